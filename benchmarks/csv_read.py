"""Reading a large CSV file: ``python benchmarks/csv_read.py [--rows 1000000] [--columns 20] [--repeats 3]``.

A file of ``--rows`` rows of ``--columns`` numbers (normal draws written with 10 significant
digits, a header of names, the last column the target: 263 MB at 1 M × 20) is read in fresh
processes by ``symbp.data.load(path, target="y")``, by ``pandas.read_csv`` (float64) and by
``numpy.loadtxt`` (comma separated, header skipped), in turn, ``--repeats`` rounds.  Each process
records the wall time of the read, its own CPU time meanwhile, and its peak resident memory
above what it held before the read (after ``import numpy``; the reader's own imports are counted).

The readers are single-threaded: a run whose process got less than :data:`MIN_CPU_SHARE` of a core
while it read waited for a CPU that another process held, and is *disturbed*.  A reader's figures
are the medians of its undisturbed runs; the targets are judged only from undisturbed figures
of symbp and pandas, else NOT CHECKED.  The targets (issue 17): symbp's time at most
:data:`TIME_TARGET` × pandas', its peak memory at most :data:`MEMORY_TARGET` × the table's bytes
(rows × columns × 8).

``--file PATH`` reads (and, when missing, first writes) that file instead of a temporary one.
benchmarks/README.md describes the report; the latest one is benchmarks/csv_read.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.report import cpu_model, version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "csv_read.md"
READERS = ("symbp", "pandas", "loadtxt")
#: The issue's targets: symbp's time over pandas', and its peak memory over the table's bytes.
TIME_TARGET = 1.5
MEMORY_TARGET = 2.0
#: A run is disturbed when its (single-threaded) reader got less than this share of a core.
MIN_CPU_SHARE = 0.9

#: Run in a fresh python with the reader's name and the file: time one read, print the figures as JSON.
_WORKER = """
import json, os, resource, sys, time
import numpy as np
reader, path = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
cpu, started = time.process_time(), time.perf_counter()
try:
    if reader == "symbp":
        from symbp.data import load
        data = load(path, target="y")
        shape = (data.n, data.p + 1)
    elif reader == "pandas":
        import pandas
        shape = pandas.read_csv(path, dtype=np.float64).shape
    else:
        shape = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64).shape
except ImportError as err:
    print(json.dumps({"missing": str(err)}))
    sys.exit(0)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "extra": peak - base, "shape": list(shape)}))
"""


@dataclass(frozen=True)
class ReaderResult:
    """One reader's figures: medians over its undisturbed runs (over all, marked, when every one was disturbed).

    Attributes:
        reader: "symbp", "pandas" or "loadtxt".
        seconds: wall time of the read.
        cpu: CPU time of the reading process meanwhile (what the read costs on a core of its own).
        extra: peak resident bytes above the process's before the read.
        share: the least share of a core a counted run got.
        disturbed: every run was disturbed.
        runs: how many runs the medians are over.
        missing: why the reader could not run (not installed), else None.
    """

    reader: str
    seconds: float | None = None
    cpu: float | None = None
    extra: float | None = None
    share: float | None = None
    disturbed: bool = False
    runs: int = 0
    missing: str | None = None


def write_table(path: Path, rows: int, columns: int) -> None:
    """The benchmark's file: a header x1..x(columns-1), y, then normal draws with 10 significant digits (seed 0)."""
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="ascii") as stream:
        stream.write(",".join([f"x{j}" for j in range(1, columns)] + ["y"]) + "\n")
        for start in range(0, rows, 100_000):
            np.savetxt(stream, rng.standard_normal((min(100_000, rows - start), columns)), delimiter=",", fmt="%.10g")


def measure_once(reader: str, path: Path, symbp_path: Path = ROOT) -> dict:
    """One read in a fresh process: ``{"seconds", "cpu", "extra", "shape", "share"}`` or ``{"missing": why}``."""
    env = {**os.environ, "PYTHONPATH": str(symbp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", _WORKER, reader, str(path)], capture_output=True, text=True, env=env,
                          cwd=symbp_path, timeout=1800, check=True)
    run = json.loads(done.stdout.strip().splitlines()[-1])
    if "missing" not in run:
        run["share"] = run["cpu"] / run["seconds"] if run["seconds"] > 0 else None
    return run


def disturbed(share: float | None) -> bool:
    """Whether a run whose reader got ``share`` of a core waited for a CPU (unknown: not disturbed)."""
    return share is not None and share < MIN_CPU_SHARE


def summarise(reader: str, runs: list[dict]) -> ReaderResult:
    """A reader's result from its runs: the medians of the undisturbed ones, or of all, marked, when none is.

    Example:
        >>> calm = {"seconds": 2.0, "cpu": 2.0, "extra": 1e8, "share": 0.99}
        >>> busy = {"seconds": 9.0, "cpu": 4.5, "extra": 1e8, "share": 0.5}
        >>> summarise("symbp", [calm, busy, calm]).seconds, summarise("symbp", [busy]).disturbed
        (2.0, True)
    """
    if not runs or "missing" in runs[0]:
        return ReaderResult(reader, missing=runs[0]["missing"] if runs else "not run")
    calm = [run for run in runs if not disturbed(run.get("share"))]
    counted = calm or runs
    shares = [run["share"] for run in counted if run.get("share") is not None]
    medians = {key: statistics.median(run[key] for run in counted) for key in ("seconds", "cpu", "extra")}
    return ReaderResult(reader, medians["seconds"], medians["cpu"], medians["extra"], min(shares) if shares else None, not calm, len(counted))


def targets(results: dict[str, ReaderResult], table_bytes: int) -> list[str]:
    """The issue's two targets, each MET, NOT MET or NOT CHECKED (a reader missing or disturbed), with the figures.

    Example:
        >>> fast = {"symbp": ReaderResult("symbp", 3.0, 3.0, 2e8, runs=3), "pandas": ReaderResult("pandas", 2.5, 2.5, 6e8, runs=3)}
        >>> targets(fast, 160_000_000)[0]
        'MET: symbp ≤ 1.5 × pandas.read_csv time (3.00 s ÷ 2.50 s = 1.20)'
    """
    symbp, pandas = results.get("symbp"), results.get("pandas")
    lines = []
    time_target = f"symbp ≤ {TIME_TARGET:g} × pandas.read_csv time"
    if symbp is None or pandas is None or symbp.seconds is None or pandas.seconds is None:
        lines.append(f"NOT CHECKED: {time_target} (a reader did not run)")
    elif symbp.disturbed or pandas.disturbed:
        lines.append(f"NOT CHECKED: {time_target} (every run of a reader disturbed: {symbp.seconds:.2f} s ÷ {pandas.seconds:.2f} s)")
    else:
        ratio = symbp.seconds / pandas.seconds
        status = "MET" if ratio <= TIME_TARGET else "NOT MET"
        lines.append(f"{status}: {time_target} ({symbp.seconds:.2f} s ÷ {pandas.seconds:.2f} s = {ratio:.2f})")
    memory_target = f"symbp's peak memory ≤ {MEMORY_TARGET:g} × the table's {table_bytes / 1e6:.0f} MB"
    if symbp is None or symbp.extra is None:
        lines.append(f"NOT CHECKED: {memory_target} (symbp did not run)")
    else:
        ratio = symbp.extra / table_bytes
        status = "MET" if ratio <= MEMORY_TARGET else "NOT MET"
        lines.append(f"{status}: {memory_target} ({symbp.extra / 1e6:.0f} MB = {ratio:.2f} ×)")
    return lines


def report(results: dict[str, ReaderResult], shape: tuple[int, int], size: int, repeats: int,
           load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    """The Markdown report: machine and load, one row per reader with its ratios to pandas, and the targets."""
    table_bytes = shape[0] * shape[1] * 8
    load = ", ".join(f"{x:.2f}" for x in load_before) + " → " + ", ".join(f"{x:.2f}" for x in load_after)
    pandas = results.get("pandas")
    lines = [
        "# Reading a large CSV file",
        "",
        f"{shape[0]:,} rows × {shape[1]} columns, {size / 1e6:.0f} MB of text, a table of {table_bytes / 1e6:.0f} MB; "
        f"medians of {repeats} fresh processes per reader, the readers taken in turn.",
        "",
        f"- CPU: {cpu_model()}; {os.cpu_count()} cores",
        f"- load average (1, 5, 15 min) before → after: {load}",
        f"- Python {sys.version.split()[0]}, numpy {version('numpy')}, pandas {version('pandas')}",
        f"- a run is disturbed when its reader got less than {MIN_CPU_SHARE:g} of a core while it read; "
        "a reader's figures are the medians of its undisturbed runs",
        "",
        "| reader | time (s) | ÷ pandas | CPU time (s) | ÷ pandas | peak memory above the start (MB) | ÷ table | runs counted | share of a core (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in READERS:
        r = results.get(name)
        if r is None:
            continue
        if r.missing is not None:
            lines.append(f"| {name} | not run: {r.missing} | | | | | | | |")
            continue
        versus = f"{r.seconds / pandas.seconds:.2f}" if pandas is not None and pandas.seconds else "?"
        cpu_versus = f"{r.cpu / pandas.cpu:.2f}" if pandas is not None and pandas.cpu else "?"
        counted = f"none undisturbed: all {r.runs} (DISTURBED)" if r.disturbed else str(r.runs)
        share = "?" if r.share is None else f"{r.share:.2f}"
        lines.append(f"| {name} | {r.seconds:.2f} | {versus} | {r.cpu:.2f} | {cpu_versus} | {r.extra / 1e6:.0f} | {r.extra / table_bytes:.2f} | {counted} | {share} |")
    lines += ["", *(f"- {line}" for line in targets(results, table_bytes))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the file (unless given), measure, print the report and write it to ``--out``."""
    parser = argparse.ArgumentParser(prog="benchmarks/csv_read.py", description="symbp's CSV reader against pandas and numpy.loadtxt.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows (default 1000000)")
    parser.add_argument("--columns", type=int, default=20, help="columns, the last one the target (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per reader; the median is reported (default 3)")
    parser.add_argument("--file", type=Path, help="the CSV file to read, written first when missing (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default benchmarks/csv_read.md)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = args.file or Path(folder) / "table.csv"
        if not path.exists():
            write_table(path, args.rows, args.columns)
        load_before = os.getloadavg()
        runs: dict[str, list[dict]] = {name: [] for name in READERS}
        for _ in range(args.repeats):
            for name in READERS:
                if not runs[name] or "missing" not in runs[name][0]:
                    runs[name].append(measure_once(name, path))
        shapes = {tuple(run["shape"]) for each in runs.values() for run in each if "shape" in run}
        if len(shapes) != 1:
            raise SystemExit(f"the readers disagree on the table's shape: {sorted(shapes)}")
        results = {name: summarise(name, each) for name, each in runs.items()}
        text = report(results, shapes.pop(), path.stat().st_size, args.repeats, load_before, os.getloadavg())
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
