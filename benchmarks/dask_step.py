"""Dask on one machine against training here, per step; and the memory order of X on the local hot path.

``python -m benchmarks.dask_step`` writes an ``.npy`` file of 1 000 000 rows × 20 columns
(the last the target), then alternates rounds of ``--steps`` full-batch steps with a
constant step size: ``symbp.train`` in a fresh process (what ``symbp train`` does), and
:func:`symbp.cluster.train_on_cluster` on a local cluster of two single-threaded workers
(what ``symbp train --dask`` does), the data read by the workers as ``--dask`` reads them.
The kernel is ``generated/tanh_identity_m3.py``, the one ``symbp emit`` writes by default.
A step's time is the time between two history rows (one evaluation of R and ∇R and the step).

Every round records the load average and the share of the CPUs that other processes took
while it ran; a round whose steps are disturbed (:meth:`benchmarks.timing.Timing.disturbance`:
others' CPU above 10 %, spread above 50 %, median above 1.5 × best) does not count, and a
ratio with no undisturbed pair of rounds is printed NOT CHECKED with the reasons.  The target
is Dask ≤ 1.3 × local per step, the median over the undisturbed pairs; ``--budget SECONDS``
goes on measuring pairs while fewer than ``--rounds`` are undisturbed.  The CPU seconds per
step (the workers' for Dask) are shown too: others' load changes them less than the wall time.

``--order`` measures instead what a Fortran-ordered copy of X (which ``symbp.train`` made
until it was measured here) does per step at n = 10³, 10⁵ and 10⁶: rounds of fresh processes
alternating X in C order (as read) and the copy.

``--out FILE`` also writes the Markdown report.  Each round in a fresh process
runs ``python -m benchmarks.dask_step --local-round DATA KERNEL STEPS ORDER``,
which prints its figures as JSON on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.processes import ROOT, last_json, run_python  # noqa: E402
from benchmarks.report import cpu_model, significant  # noqa: E402
from benchmarks.timing import (  # noqa: E402
    DISTURBED_SHARE,
    MEDIAN_OVER_BEST,
    MIN_BATCH_SECONDS,
    NOISY_SPREAD,
    Timing,
    cpu_ticks,
    others_share,
)

#: The data: rows × columns, the last column the target.
ROWS, COLUMNS = 1_000_000, 20
#: The kernel ``symbp emit`` writes by default (M = 3, tanh, identity).
KERNEL: Path = ROOT / "generated" / "tanh_identity_m3.py"
#: A constant step small enough for R summed over 10⁶ rows.
STEP_SIZE = "constant:1e-7"
#: The issue's target: Dask per step at most this many times local per step.
TARGET = 1.3
#: The sizes of the order comparison.
ORDER_ROWS = (1_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Round:
    """One round: the seconds of each step, and what else happened on the machine meanwhile."""

    who: str
    steps: tuple[float, ...]
    others_cpu: float | None
    faults_per_step: float | None
    cpu_per_step: float  # the CPU seconds of the processes that did the work (the workers' for Dask)
    load: float  # the 1-minute load average when the round started

    @property
    def timing(self) -> Timing:
        """The steps as a :class:`~benchmarks.timing.Timing`, for its median and disturbance.

        Consecutive steps are taken together in batches of at least MIN_BATCH_SECONDS (one step each at
        n = 10⁶, dozens at n = 10³), as the kernel benchmark times calls: a lone short step's clock says little.
        """
        batches, total, count = [], 0.0, 0
        for seconds in self.steps:
            total, count = total + seconds, count + 1
            if total >= MIN_BATCH_SECONDS:
                batches.append(total / count)
                total, count = 0.0, 0
        values = tuple(batches) or (sum(self.steps) / len(self.steps),)
        return Timing(statistics.median(values), values, 1, self.faults_per_step, self.others_cpu)


# --- the data ----------------------------------------------------------------------------


def write_data(path: Path, rows: int, columns: int = COLUMNS, seed: int = 0) -> Path:
    """A seeded ``.npy`` of standard normal inputs and a smooth target in the last column."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((rows, columns))
    table[:, -1] = np.tanh(table[:, 0] - 0.5 * table[:, 1]) + 0.1 * table[:, -1]
    np.save(path, table)
    return path


# --- one round here (in a fresh process) ----------------------------------------------------


def local_round(data: str, kernel_path: str, steps: int, order: str) -> dict[str, object]:
    """``symbp.train`` on the data for ``steps`` steps, X in C order as read or in a Fortran-ordered copy ("F").

    Returns:
        A JSON-ready :class:`Round` and the seconds the copy took.
    """
    import symbp
    from symbp.data import load as load_data

    load = os.getloadavg()[0]
    kernel = symbp.load_kernel(kernel_path)
    dataset = load_data(data)
    start = time.perf_counter()
    X = np.asfortranarray(dataset.X) if order == "F" else dataset.X
    copy_seconds = time.perf_counter() - start
    stamps: list[float] = []
    faults, ticks, cpu = _faults(), cpu_ticks(), time.process_time()
    symbp.train(kernel, X, dataset.y, steps=steps, step_size=STEP_SIZE, callback=lambda row: stamps.append(time.perf_counter()))
    done = len(stamps) - 1
    own = Round(
        f"local {order}", tuple(np.diff(stamps)), others_share(ticks, cpu_ticks()), (_faults() - faults) / done,
        (time.process_time() - cpu) / done, load,
    )
    return {"round": own.__dict__, "copy_seconds": copy_seconds}


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def local_round_in_fresh_process(data: Path, steps: int, order: str = "C") -> tuple[Round, float]:
    """:func:`local_round` in a fresh process: the round and the seconds of the Fortran-ordered copy (0 for C)."""
    _, stdout = run_python("-m", "benchmarks.dask_step", "--local-round", str(data), str(KERNEL), str(steps), order)
    answer = last_json(stdout)
    fields = dict(answer["round"])  # type: ignore[arg-type]
    fields["steps"] = tuple(fields["steps"])
    return Round(**fields), float(answer["copy_seconds"])  # type: ignore[arg-type]


# --- one round on the cluster ------------------------------------------------------------------


def _worker_usage() -> tuple[float, int]:
    """This worker's CPU seconds and minor page faults so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def dask_round(client, parts, steps: int) -> Round:
    """:func:`symbp.cluster.train_on_cluster` on partitions already read, for ``steps`` steps."""
    from symbp import cluster

    load = os.getloadavg()[0]
    stamps: list[float] = []
    before, ticks = client.run(_worker_usage), cpu_ticks()
    cluster.train_on_cluster(KERNEL, parts, client, steps=steps, step_size=STEP_SIZE, callback=lambda row: stamps.append(time.perf_counter()))
    after, ticks_after = client.run(_worker_usage), cpu_ticks()
    done = len(stamps) - 1
    worker_cpu = sum(after[w][0] - before[w][0] for w in after if w in before)
    faults = sum(after[w][1] - before[w][1] for w in after if w in before)
    others = others_share(ticks, ticks_after)
    if others is not None and ticks is not None and ticks_after is not None:
        # The workers are other processes to /proc: their CPU time is the round's own.
        others = max(0.0, others - worker_cpu * os.sysconf("SC_CLK_TCK") / (ticks_after[1] - ticks[1]))
    return Round("Dask", tuple(np.diff(stamps)), others, faults / done, worker_cpu / done, load)


# --- the comparisons ---------------------------------------------------------------------------


def _clean(pair: tuple[Round, Round]) -> bool:
    return not pair[0].timing.disturbance() and not pair[1].timing.disturbance()


def _more_rounds(pairs: list, rounds: int, budget: float, started: float) -> bool:
    """Whether to measure another pair: until ``rounds`` pairs, then while fewer than ``rounds`` are undisturbed and time is left."""
    return len(pairs) < rounds or (sum(map(_clean, pairs)) < rounds and time.monotonic() - started < budget)


def compare_dask(data: Path, rounds: int, steps: int, progress, budget: float = 0.0) -> list[tuple[Round, Round]]:
    """Alternated pairs (local, Dask), the first of each pair taking turns; disturbed pairs re-measured within ``budget`` seconds."""
    from symbp import cluster

    pairs: list[tuple[Round, Round]] = []
    started = time.monotonic()
    with cluster.connect(None) as client:
        parts = cluster.read_data(client, data)
        progress(f"Dask: {len(parts.sizes)} partitions of {parts.sizes[0]} rows on {len(client.nthreads())} workers")
        try:
            while _more_rounds(pairs, rounds, budget, started):
                k = len(pairs)
                if k % 2 == 0:
                    local, _ = local_round_in_fresh_process(data, steps)
                    remote = dask_round(client, parts, steps)
                else:
                    remote = dask_round(client, parts, steps)
                    local, _ = local_round_in_fresh_process(data, steps)
                progress(f"round {k + 1}: local {local.timing.median * 1e3:.0f} ms, Dask {remote.timing.median * 1e3:.0f} ms per step")
                pairs.append((local, remote))
        finally:
            parts.release()
    return pairs


def compare_orders(folder: Path, rounds: int, progress, budget: float = 0.0) -> dict[int, list[tuple[Round, Round, float]]]:
    """Per n: alternated pairs of fresh processes (C order, Fortran-ordered copy) and the copy's seconds."""
    results: dict[int, list[tuple[Round, Round, float]]] = {}
    for n in ORDER_ROWS:
        data = write_data(folder / f"order-{n}.npy", n)
        steps = min(4000, max(15, 10_000_000 // n))  # about two seconds a round
        results[n] = []
        started = time.monotonic()
        while _more_rounds([pair[:2] for pair in results[n]], rounds, budget, started):
            k = len(results[n])
            orders = ("C", "F") if k % 2 == 0 else ("F", "C")
            got = {order: local_round_in_fresh_process(data, steps, order) for order in orders}
            results[n].append((got["C"][0], got["F"][0], got["F"][1]))
            progress(f"n = {n}, round {k + 1}: C {got['C'][0].timing.median * 1e3:.3g} ms, F {got['F'][0].timing.median * 1e3:.3g} ms per step")
    return results


# --- the report ----------------------------------------------------------------------------------


def checked_ratio(pairs: list[tuple[Round, Round]]) -> tuple[float, str]:
    """The median ratio second ÷ first over the pairs where neither round was disturbed, and the verdict's words.

    Without such a pair, the median over all pairs, with NOT CHECKED and the reasons.
    """
    clean = [b.timing.median / a.timing.median for a, b in pairs if _clean((a, b))]
    if clean:
        return statistics.median(clean), f"median of {len(clean)} undisturbed pair(s) of {len(pairs)}"
    return statistics.median(b.timing.median / a.timing.median for a, b in pairs), f"NOT CHECKED (every pair disturbed: {_why(pairs)})"


def _why(pairs: list[tuple[Round, Round]]) -> str:
    """What disturbed the rounds, in a few words: others' CPU share, and how many rounds were noisy."""
    rounds = [r for pair in pairs for r in pair]
    shares = [r.others_cpu for r in rounds if r.others_cpu is not None and r.others_cpu > DISTURBED_SHARE]
    words = [f"others took {min(shares):.0%}–{max(shares):.0%} of the CPUs (> {DISTURBED_SHARE:.0%}) in {len(shares)} of {len(rounds)} rounds"] if shares else []
    noisy = sum(r.timing.spread > NOISY_SPREAD or r.timing.median > MEDIAN_OVER_BEST * r.timing.best for r in rounds)
    if noisy:
        words.append(f"{noisy} round(s) with a spread above {NOISY_SPREAD:.0%} or a median above {MEDIAN_OVER_BEST:g} × best")
    return "; ".join(words)


def cpu_ratio(pairs: list[tuple[Round, Round]]) -> float:
    """The median ratio of CPU seconds per step, second ÷ first, over all pairs: what the work costs, which others'
    load changes less than the wall time (a diagnostic, not a target)."""
    return statistics.median(b.cpu_per_step / a.cpu_per_step for a, b in pairs)


def _row(k: int, r: Round) -> str:
    t = r.timing
    others = "?" if r.others_cpu is None else f"{r.others_cpu:.0%}"
    faults = "?" if r.faults_per_step is None else f"{r.faults_per_step:.0f}"
    return (f"| {k} | {r.who} | {t.median * 1e3:.4g} | {t.best * 1e3:.4g} | {t.spread:.0%} | {r.cpu_per_step * 1e3:.4g} | "
            f"{faults} | {r.load:.2f} | {others} | {t.disturbance() or 'undisturbed'} |")


_HEADER = ["| round | run | median ms/step | best | spread | CPU ms/step | page faults/step | load | others' CPU | |",
           "|---|---|---|---|---|---|---|---|---|---|"]


def dask_report(pairs: list[tuple[Round, Round]], steps: int) -> list[str]:
    """The Dask section: every round, then the ratio and the target."""
    ratio, how = checked_ratio(pairs)
    verdict = how if how.startswith("NOT CHECKED") else f"{'MET' if ratio <= TARGET else 'NOT MET'} ({how})"
    lines = [f"## Dask (2 workers) against local, per step: n = {ROWS:,}, {COLUMNS} columns (.npy), M = 3 tanh, {steps} steps a round", "", *_HEADER]
    lines += [_row(k + 1, r) for k, pair in enumerate(pairs) for r in pair]
    lines += ["", f"Dask ÷ local per step: **{significant(ratio)}** (target ≤ {TARGET}): {verdict}.",
              f"CPU seconds per step, the workers' ÷ the local process's (all rounds): {significant(cpu_ratio(pairs))}.", ""]
    return lines


def order_report(results: dict[int, list[tuple[Round, Round, float]]]) -> list[str]:
    """The order section: per n, every round, then Fortran-ordered ÷ C per step."""
    lines = ["## X in a Fortran-ordered copy against C order, per step of `symbp.train` (fresh processes)", ""]
    for n, rounds in results.items():
        ratio, how = checked_ratio([(c, f) for c, f, _ in rounds])
        copy = statistics.median(seconds for _, _, seconds in rounds)
        lines += [f"### n = {n:,}", "", *_HEADER]
        lines += [_row(k + 1, r) for k, (c, f, _) in enumerate(rounds) for r in (c, f)]
        lines += ["", f"Fortran-ordered ÷ C per step: **{significant(ratio)}** ({how}); CPU seconds per step "
                  f"{significant(cpu_ratio([(c, f) for c, f, _ in rounds]))} (all rounds); the copy itself: {copy * 1e3:.3g} ms once.", ""]
    return lines


def report(pairs, orders, steps: int, command: str) -> str:
    """The whole Markdown report."""
    lines = ["# Dask and memory order benchmark", "", f"`{command}`", "",
             f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; load average at the end {os.getloadavg()[0]:.2f}",
             f"- NumPy {np.__version__}; kernel `{KERNEL.relative_to(ROOT)}`", ""]
    if pairs:
        lines += dask_report(pairs, steps)
    if orders:
        lines += order_report(orders)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dask_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternated pairs of rounds (default 5)")
    parser.add_argument("--steps", type=int, default=15, help="steps per round of the Dask comparison (default 15)")
    parser.add_argument("--order", action="store_true", help="also compare X's memory order per step at n = 10³, 10⁵, 10⁶")
    parser.add_argument("--only-order", action="store_true", help="only the order comparison")
    parser.add_argument("--budget", type=float, default=0.0, help="seconds to spend re-measuring while fewer than --rounds pairs are undisturbed (default 0)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--local-round", nargs=4, metavar=("DATA", "KERNEL", "STEPS", "ORDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.local_round:
        data, kernel_path, steps, order = args.local_round
        print(json.dumps(local_round(data, kernel_path, int(steps), order)))
        return 0
    if args.rounds < 1 or args.steps < 2:
        parser.error("--rounds must be at least 1 and --steps at least 2")
    progress = lambda message: print(f"... {message}", file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        pairs = [] if args.only_order else compare_dask(write_data(Path(folder) / "data.npy", ROWS), args.rounds, args.steps, progress, args.budget)
        orders = compare_orders(Path(folder), args.rounds, progress, args.budget) if args.order or args.only_order else {}
    text = report(pairs, orders, args.steps, " ".join(["python -m benchmarks.dask_step", *(sys.argv[1:] if argv is None else argv)]))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
