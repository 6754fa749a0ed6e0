"""Tests for benchmarks/depth.py: disturbed runs are left out, the slope and the targets are judged from the rest.

The timing itself is the benchmark's business (never a test's); these check the arithmetic and the report
on made-up runs, so that a disturbed depth cannot pass for a measured one.
"""

from __future__ import annotations

import pytest

from benchmarks.depth import DepthResult, disturbed, others_cores, report, slopes, summarise

ROOT_LOAD = (0.1, 0.1, 0.1)


def run(total: float, share: float | None, others: float = 1.0) -> dict:
    return {"derive": total * 0.9, "emit": total * 0.1, "command": total + 1.0, "others": others, "share": share}


def test_others_cores_leaves_out_the_benchmarks_own_cpu_time() -> None:
    # 5 busy CPU-seconds in 2 s, 3 of them the benchmark's and its children's: others kept 1 core busy.
    assert others_cores((10.0, 1.0), (15.0, 4.0), 2.0) == pytest.approx(1.0)
    assert others_cores(None, (15.0, 4.0), 2.0) is None


def test_a_run_is_disturbed_when_its_processes_waited_for_a_cpu() -> None:
    assert not disturbed(0.99) and not disturbed(0.9) and disturbed(0.89)
    assert not disturbed(None)


def test_a_depths_figures_are_the_medians_of_its_undisturbed_runs() -> None:
    result = summarise(8, [run(1.0, 0.99), run(50.0, 0.5, others=1.5), run(3.0, 0.95)])
    assert result.derive == pytest.approx(1.8) and result.runs == 2 and not result.disturbed
    assert result.others == pytest.approx(1.5) and result.share == pytest.approx(0.95)
    busy = summarise(8, [run(4.0, 0.6), run(2.0, 0.7)])
    assert busy.disturbed and busy.runs == 2 and busy.derive == pytest.approx(2.7)
    assert summarise(8, [{"refused": "too deep"}]).refused == "too deep"


def test_the_slope_leaves_out_disturbed_depths() -> None:
    results = [DepthResult(1, 1.0, 0.0, 2.0), DepthResult(2, 100.0, 0.0, 101.0, disturbed=True), DepthResult(3, 2.0, 0.0, 3.0)]
    fitted, end_to_end = slopes(results)
    assert fitted == pytest.approx(0.5) and end_to_end == pytest.approx(0.5)
    assert slopes(results[:2]) is None


def test_the_report_marks_disturbed_depths_and_judges_only_the_others(tmp_path) -> None:
    calm = [DepthResult(1, 1.0, 0.1, 2.0, others=0.1, runs=3), DepthResult(32, 4.0, 1.0, 7.0, others=0.2, runs=3)]
    text = report(calm, 3, ROOT_LOAD, ROOT_LOAD, tmp_path)
    assert "- MET: at most 0.5 s per extra layer" in text and "- MET: 32 hidden layers in under 20 s" in text
    slow = [DepthResult(1, 1.0, 0.1, 2.0, runs=3), DepthResult(32, 30.0, 1.0, 33.0, runs=3)]
    assert "- NOT MET: at most 0.5 s per extra layer" in report(slow, 3, ROOT_LOAD, ROOT_LOAD, tmp_path)
    busy = [DepthResult(1, 1.0, 0.1, 2.0, others=1.5, disturbed=True, runs=3), DepthResult(32, 4.0, 1.0, 7.0, others=1.5, disturbed=True, runs=3)]
    text = report(busy, 3, ROOT_LOAD, ROOT_LOAD, tmp_path)
    assert text.count("(DISTURBED)") == 2 and "MET" not in text.replace("NOT JUDGED", "")
    refused = report([DepthResult(32, None, None, None, refused="32 hidden layers are more than the 6 symbp supports")], 3, ROOT_LOAD, ROOT_LOAD, tmp_path)
    assert "| 32 | refused: 32 hidden layers" in refused and "- NOT MET: 32 hidden layers" in refused
