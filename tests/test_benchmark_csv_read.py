"""Tests for benchmarks/csv_read.py: disturbed runs are left out, and the targets are judged from the rest or not at all.

The timing itself is the benchmark's business (never a test's); these check the arithmetic and the report
on made-up runs, so that a disturbed reader cannot pass for a measured one.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.csv_read import ReaderResult, disturbed, report, summarise, targets, write_table

TABLE = 160_000_000
LOAD = (0.1, 0.1, 0.1)


def run(seconds: float, share: float | None, extra: float = 2e8) -> dict:
    return {"seconds": seconds, "cpu": seconds * (share or 1.0), "extra": extra, "share": share}


def test_a_run_is_disturbed_when_its_reader_waited_for_a_cpu() -> None:
    assert not disturbed(0.95) and not disturbed(0.9) and disturbed(0.89) and not disturbed(None)


def test_a_readers_figures_are_the_medians_of_its_undisturbed_runs() -> None:
    result = summarise("symbp", [run(3.0, 0.99, 1e8), run(30.0, 0.4, 9e8), run(4.0, 0.95, 3e8)])
    assert result.seconds == pytest.approx(3.5) and result.extra == pytest.approx(2e8) and result.runs == 2
    assert not result.disturbed and result.share == pytest.approx(0.95)
    busy = summarise("symbp", [run(8.0, 0.5), run(6.0, 0.6)])
    assert busy.disturbed and busy.seconds == pytest.approx(7.0) and busy.runs == 2
    assert summarise("pandas", [{"missing": "No module named 'pandas'"}]).missing == "No module named 'pandas'"


def test_the_targets_are_the_ratios_to_pandas_and_to_the_table() -> None:
    results = {"symbp": ReaderResult("symbp", 3.0, 3.0, 3.3e8, runs=3), "pandas": ReaderResult("pandas", 2.5, 2.5, 6.4e8, runs=3)}
    time_line, memory_line = targets(results, TABLE)
    assert time_line == "MET: symbp ≤ 1.5 × pandas.read_csv time (3.00 s ÷ 2.50 s = 1.20)"
    assert memory_line == "NOT MET: symbp's peak memory ≤ 2 × the table's 160 MB (330 MB = 2.06 ×)"
    slow = {"symbp": ReaderResult("symbp", 4.0, 4.0, 1.6e8, runs=3), "pandas": ReaderResult("pandas", 2.5, 2.5, 6.4e8, runs=3)}
    assert targets(slow, TABLE) == ["NOT MET: symbp ≤ 1.5 × pandas.read_csv time (4.00 s ÷ 2.50 s = 1.60)",
                                    "MET: symbp's peak memory ≤ 2 × the table's 160 MB (160 MB = 1.00 ×)"]


def test_a_disturbed_or_missing_reader_leaves_the_time_target_not_checked(tmp_path) -> None:
    busy = {"symbp": ReaderResult("symbp", 3.0, 1.5, 1.6e8, 0.5, disturbed=True, runs=3), "pandas": ReaderResult("pandas", 2.5, 2.5, 6.4e8, runs=3)}
    assert targets(busy, TABLE)[0].startswith("NOT CHECKED: symbp ≤ 1.5 × pandas.read_csv time (every run of a reader disturbed")
    missing = {"symbp": ReaderResult("symbp", 3.0, 3.0, 1.6e8, runs=3), "pandas": ReaderResult("pandas", missing="No module named 'pandas'")}
    assert targets(missing, TABLE)[0] == "NOT CHECKED: symbp ≤ 1.5 × pandas.read_csv time (a reader did not run)"
    text = report(busy | {"loadtxt": ReaderResult("loadtxt", 3.3, 3.3, 1.4e8, runs=3)}, (1_000_000, 20), 263_000_000, 3, LOAD, LOAD)
    assert "| symbp | 3.00 | 1.20 | 1.50 | 0.60 | 160 | 1.00 | none undisturbed: all 3 (DISTURBED) | 0.50 |" in text
    assert "| loadtxt | 3.30 | 1.32 | 3.30 | 1.32 | 140 | 0.88 | 3 | ? |" in text
    assert "CPU:" in text and "load average" in text and "- NOT CHECKED" in text


def test_the_benchmarks_file_has_the_asked_shape_and_a_target_column(tmp_path) -> None:
    path = tmp_path / "t.csv"
    write_table(path, 250, 4)
    assert path.read_text().splitlines()[0] == "x1,x2,x3,y"
    assert np.loadtxt(path, delimiter=",", skiprows=1).shape == (250, 4)
