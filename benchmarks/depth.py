"""How deriving and emitting a kernel grows with the depth: ``python benchmarks/depth.py [--depths 1,2,4,8,16,32] [--repeats 3]``.

For each depth, networks of that many hidden layers of width 8 (σ = tanh, g = identity) are
derived and emitted in fresh processes, as ``symbp emit`` does: the derivation (``derive``)
and the kernel (``emit``) are timed separately after the imports, and ``symbp emit`` as a
whole from a fresh ``python``.  The medians of ``--repeats`` runs, taken depth after depth
in turn (1, 2, 4, …, 1, 2, 4, …) so that a slow spell of a shared machine falls on all
depths alike, go into a Markdown report with the machine, its load, the per-layer slope
(least squares of derive + emit over the depths, and (t_max − t_1)/(max − 1)) and the
issue's targets: at most 0.5 s per extra layer, 32 layers in under 20 s.

Each run also records the CPU time the measured (single-threaded) processes got over the wall
time they took, and how many cores other processes kept busy meanwhile (from ``/proc/stat``, less
the benchmark's own and its children's CPU time).  A run whose processes got less than
:data:`MIN_CPU_SHARE` of a core waited for one: it is *disturbed*.  A depth's figures are the
medians of its undisturbed runs; a depth with none is marked disturbed in the report (with the
median of all its runs), and the slopes and targets are judged from undisturbed depths only.

``--symbp PATH`` times the symbp of another checkout (to compare with an earlier version):
a depth it refuses is reported as refused.  benchmarks/README.md describes the report; the
latest one is benchmarks/depth.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import cpu_model, version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEPTHS = (1, 2, 4, 8, 16, 32)
WIDTH = 8
#: The issue's targets: seconds per extra hidden layer, and for 32 hidden layers.
SLOPE_TARGET = 0.5
DEPTH_32_TARGET = 20.0
DEFAULT_OUT = Path(__file__).resolve().parent / "depth.md"
#: A run is disturbed when its processes got less than this share of a core while they ran: they
#: waited for a CPU that other processes held (others busy on the spare cores do not slow them).
MIN_CPU_SHARE = 0.9

#: Run in a fresh python: import, then time derive and emit of one network; print the times as JSON.
_WORKER = """
import json, sys, tempfile, time
from symbp.errors import UserError
from symbp.kernel.emit import emit
from symbp.symbolic.derivation import derive
depth, width = int(sys.argv[1]), int(sys.argv[2])
try:
    started = time.perf_counter()
    derivation = derive(hidden=(width,) * depth, sigma="tanh", g="identity")
    derived = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        emit(derivation, folder)
    emitted = time.perf_counter()
    print(json.dumps({"derive": derived - started, "emit": emitted - derived}))
except UserError as err:
    print(json.dumps({"refused": str(err)}))
"""


@dataclass(frozen=True)
class DepthResult:
    """The medians at one depth (seconds), or why symbp refused it.

    Attributes:
        depth: the number of hidden layers.
        derive, emit, command: medians over the undisturbed runs (over all runs when every one was disturbed).
        refused: symbp's message when it refused the depth, else None.
        others: the most cores other processes kept busy during one of this depth's runs (None: unknown).
        share: the least share of a core the measured processes got in one of the runs counted (None: unknown).
        disturbed: every run of this depth was disturbed (see :data:`MIN_CPU_SHARE`).
        runs: how many runs the medians are taken over.
    """

    depth: int
    derive: float | None
    emit: float | None
    command: float | None
    refused: str | None = None
    others: float | None = None
    share: float | None = None
    disturbed: bool = False
    runs: int = 0

    @property
    def total(self) -> float | None:
        return None if self.derive is None or self.emit is None else self.derive + self.emit


def _environment(symbp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(symbp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy seconds of all CPUs since boot, CPU seconds of this process and its finished children), or None without /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as stream:
            fields = [int(x) for x in stream.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), mine


def others_cores(before: tuple[float, float] | None, after: tuple[float, float] | None, seconds: float) -> float | None:
    """How many cores other processes kept busy on average over ``seconds`` between two :func:`_cpu_seconds` readings.

    Example:
        >>> others_cores((100.0, 1.0), (103.0, 2.0), 2.0)  # 3 busy CPU-seconds, 1 of them ours, in 2 s
        1.0
    """
    if before is None or after is None or seconds <= 0:
        return None
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / seconds)


def disturbed(share: float | None) -> bool:
    """Whether a run's processes, which got ``share`` of a core while they ran, waited for a CPU (unknown: not disturbed)."""
    return share is not None and share < MIN_CPU_SHARE


def measure_once(depth: int, symbp_path: Path) -> dict:
    """derive and emit timed in a fresh process, and ``symbp emit`` timed as a whole from a fresh ``python``.

    Returns:
        ``{"derive", "emit", "command", "others", "share"}``: seconds; others: cores other processes kept
        busy meanwhile; share: CPU time of the measured processes ÷ their wall time (None without /proc);
        or ``{"refused": message}``.
    """
    env = _environment(symbp_path)
    ticks, started_all = _cpu_seconds(), time.perf_counter()
    # cwd: `python -c` and `python -m` put the working folder first on sys.path, ahead of PYTHONPATH.
    inner = subprocess.run([sys.executable, "-c", _WORKER, str(depth), str(WIDTH)], capture_output=True, text=True, env=env, cwd=symbp_path, timeout=600, check=True)
    times = json.loads(inner.stdout.strip().splitlines()[-1])
    if "refused" in times:
        return times
    hidden = ",".join([str(WIDTH)] * depth)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "symbp.cli", "emit", "--hidden", hidden, "--out", folder], capture_output=True, env=env, cwd=symbp_path, timeout=600, check=True)
        times["command"] = time.perf_counter() - started
    ended, elapsed = _cpu_seconds(), time.perf_counter() - started_all
    share = None if ticks is None or ended is None else (ended[1] - ticks[1]) / elapsed
    return times | {"others": others_cores(ticks, ended, elapsed), "share": share}


def measure(depths: tuple[int, ...], repeats: int, symbp_path: Path = ROOT) -> list[DepthResult]:
    """The median times of each depth over ``repeats`` rounds, the depths taken in turn within each round."""
    runs: dict[int, list[dict]] = {depth: [] for depth in depths}
    for _ in range(repeats):
        for depth in depths:
            if runs[depth] and "refused" in runs[depth][0]:
                continue
            runs[depth].append(measure_once(depth, symbp_path))
    return [summarise(depth, runs[depth]) for depth in depths]


def summarise(depth: int, runs: list[dict]) -> DepthResult:
    """One depth's result from its runs: the medians of the undisturbed ones, or of all, marked, when none is.

    Example:
        >>> clean = {"derive": 1.0, "emit": 0.1, "command": 2.0, "others": 1.0, "share": 0.99}
        >>> busy = {"derive": 9.0, "emit": 0.9, "command": 9.0, "others": 1.5, "share": 0.6}
        >>> summarise(4, [clean, busy, clean]).derive, summarise(4, [busy]).disturbed
        (1.0, True)
    """
    if "refused" in runs[0]:
        return DepthResult(depth, None, None, None, runs[0]["refused"])
    calm = [run for run in runs if not disturbed(run.get("share"))]
    counted = calm or runs
    median = {key: statistics.median(run[key] for run in counted) for key in ("derive", "emit", "command")}
    others = [run["others"] for run in runs if run.get("others") is not None]
    shares = [run["share"] for run in counted if run.get("share") is not None]
    return DepthResult(depth, median["derive"], median["emit"], median["command"], None,
                       max(others) if others else None, min(shares) if shares else None, not calm, len(counted))


def slopes(results: list[DepthResult]) -> tuple[float, float] | None:
    """Seconds per extra hidden layer of derive + emit over the undisturbed depths: the least-squares slope, and (t_max − t_first)/(max − first)."""
    points = [(r.depth, r.total) for r in results if r.total is not None and not r.disturbed]
    if len(points) < 2:
        return None
    mean_depth = statistics.fmean(d for d, _ in points)
    mean_time = statistics.fmean(t for _, t in points)
    fitted = sum((d - mean_depth) * (t - mean_time) for d, t in points) / sum((d - mean_depth) ** 2 for d, _ in points)
    (first_depth, first_time), (last_depth, last_time) = points[0], points[-1]
    return fitted, (last_time - first_time) / (last_depth - first_depth)


def report(results: list[DepthResult], repeats: int, load_before: tuple[float, ...], load_after: tuple[float, ...], symbp_path: Path) -> str:
    """The Markdown report: machine and load, one row per depth, the slopes and the targets."""
    load = ", ".join(f"{x:.2f}" for x in load_before) + " → " + ", ".join(f"{x:.2f}" for x in load_after)
    lines = [
        "# Derivation time against depth",
        "",
        f"Hidden layers of width {WIDTH}, σ = tanh, g = identity, p symbolic; medians of {repeats} fresh processes per depth, "
        "the depths taken in turn. derive and emit are timed after the imports; `symbp emit` is the whole command from a fresh `python`.",
        "",
        f"- CPU: {cpu_model()}; {os.cpu_count()} cores",
        f"- load average (1, 5, 15 min) before → after: {load}",
        f"- Python {sys.version.split()[0]}, sympy {version('sympy')}, numpy {version('numpy')}",
        f"- symbp: {'this checkout' if symbp_path == ROOT else 'the checkout ' + symbp_path.name}",
        f"- a run is disturbed when its processes got less than {MIN_CPU_SHARE:g} of a core while they ran (they waited for a CPU); "
        "a depth's figures are the medians of its undisturbed runs",
        "",
        "| hidden layers | derive (s) | emit (s) | derive + emit (s) | `symbp emit` (s) | runs counted | share of a core (min) | others' cores (max) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.refused is not None:
            lines.append(f"| {r.depth} | refused: {r.refused} | | | | | | |")
        else:
            others = "?" if r.others is None else f"{r.others:.2f}"
            share = "?" if r.share is None else f"{r.share:.2f}"
            counted = f"none undisturbed: all {r.runs} (DISTURBED)" if r.disturbed else str(r.runs)
            lines.append(f"| {r.depth} | {r.derive:.2f} | {r.emit:.2f} | {r.total:.2f} | {r.command:.2f} | {counted} | {share} | {others} |")
    lines.append("")
    return "\n".join(lines + _targets(results)) + "\n"


def _targets(results: list[DepthResult]) -> list[str]:
    """The slopes and the issue's targets, judged from undisturbed depths only."""
    lines = []
    fitted = slopes(results)
    if fitted is not None:
        lines.append(f"Per extra hidden layer (derive + emit, undisturbed depths): {fitted[0]:.3f} s by least squares, "
                     f"{fitted[1]:.3f} s from the first to the last depth.")
        lines.append("")
        met = "MET" if max(fitted) <= SLOPE_TARGET else "NOT MET"
        lines.append(f"- {met}: at most {SLOPE_TARGET} s per extra layer ({max(fitted):.3f} s)")
    else:
        lines.append(f"- NOT JUDGED: at most {SLOPE_TARGET} s per extra layer (fewer than two undisturbed depths)")
    deepest = next((r for r in results if r.depth == 32), None)
    if deepest is not None:
        if deepest.refused is not None:
            lines.append(f"- NOT MET: 32 hidden layers in under {DEPTH_32_TARGET:g} s (refused)")
        elif deepest.disturbed:
            lines.append(f"- NOT JUDGED: 32 hidden layers in under {DEPTH_32_TARGET:g} s (every run disturbed; `symbp emit` {deepest.command:.2f} s)")
        else:
            met = "MET" if deepest.command < DEPTH_32_TARGET else "NOT MET"
            lines.append(f"- {met}: 32 hidden layers in under {DEPTH_32_TARGET:g} s (`symbp emit` {deepest.command:.2f} s, derive + emit {deepest.total:.2f} s)")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measure, print the report and write it to ``--out``."""
    parser = argparse.ArgumentParser(prog="benchmarks/depth.py", description="Derive and emit time against the number of hidden layers.")
    parser.add_argument("--depths", default=",".join(map(str, DEFAULT_DEPTHS)), help="hidden layers to time, comma separated (default 1,2,4,8,16,32)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per depth; the median is reported (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default benchmarks/depth.md)")
    parser.add_argument("--symbp", type=Path, default=ROOT, help="the checkout whose symbp is timed (default this one)")
    args = parser.parse_args(argv)
    depths = tuple(int(part) for part in args.depths.split(","))
    load_before = os.getloadavg()
    results = measure(depths, args.repeats, args.symbp.resolve())
    text = report(results, args.repeats, load_before, os.getloadavg(), args.symbp.resolve())
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
