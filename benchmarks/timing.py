"""Wall-clock timing: a warm-up, then the median over repeats of batches of calls.

Each implementation is timed in a process of its own (see
:mod:`benchmarks.worker`): the libraries keep thread pools (OpenBLAS, OpenMP,
XLA's) whose threads spin for a while after their last task, and on two cores
one library's spinning threads would be charged to the next one.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

try:
    import resource
except ImportError:  # Windows has no getrusage: page faults are then not counted
    resource = None  # type: ignore[assignment]

#: Each timed batch lasts at least this long, so that the clock's resolution and
#: the loop overhead do not matter for the fast calls at the small size.
MIN_BATCH_SECONDS: float = 0.02

#: Bounds of an undisturbed timing, beyond which no target is judged by it (see :meth:`Timing.disturbance`):
#: batches that vary by more than this fraction of their median,
NOISY_SPREAD: float = 0.5
#: other processes taking more than this share of the CPUs while it was timed,
DISTURBED_SHARE: float = 0.1
#: or a median more than this many times the fastest batch.
MEDIAN_OVER_BEST: float = 1.5


def cpu_ticks() -> tuple[int, int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot, and this process's own; None where /proc is missing.

    Read before and after a measurement, they tell how much of the machine
    other processes used meanwhile: (Δbusy − Δown) / Δtotal.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stream:
            fields = [int(x) for x in stream.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as stream:
            own = stream.read().rpartition(")")[2].split()
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait, int(own[11]) + int(own[12])  # utime, stime: fields 14 and 15 of stat(5)


def others_share(before: tuple[int, int, int] | None, after: tuple[int, int, int] | None) -> float | None:
    """The fraction of all CPUs' time that other processes used between two :func:`cpu_ticks` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    others = (after[0] - before[0]) - (after[2] - before[2])
    return max(0.0, others / (after[1] - before[1]))


def minor_faults() -> int | None:
    """Minor page faults of this process so far (pages the OS had to map in), or None where unknown."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median over repeats and every repeat's value.

    ``faults_per_call`` counts the minor page faults per call while timing:
    fresh memory that the call's allocations made the OS map in (4 KiB each).
    ``others_cpu`` is the fraction of the machine's CPU time that other
    processes took while timing: above a few percent, the figure is disturbed.
    """

    median: float
    values: tuple[float, ...]
    calls_per_repeat: int
    faults_per_call: float | None = None
    others_cpu: float | None = None

    @property
    def best(self) -> float:
        """The fastest repeat: what the call costs when nothing else gets in the way."""
        return min(self.values)

    @property
    def spread(self) -> float:
        """(max − min) / median over the repeats: how noisy the figure is."""
        return (max(self.values) - min(self.values)) / self.median if self.median > 0 else 0.0

    def disturbance(self) -> str | None:
        """Why this timing is not a figure to judge a target by (the machine was busy, or the batches disagree), or None.

        A median far above the best batch, a wide spread, or other processes' CPU time above
        :data:`DISTURBED_SHARE` all say that something else ran while it was timed.
        """
        reasons = []
        if self.others_cpu is not None and self.others_cpu > DISTURBED_SHARE:
            reasons.append(f"others' CPU {self.others_cpu:.0%} > {DISTURBED_SHARE:.0%}")
        if self.spread > NOISY_SPREAD:
            reasons.append(f"spread {self.spread:.0%} > {NOISY_SPREAD:.0%}")
        if self.best > 0 and self.median / self.best > MEDIAN_OVER_BEST:
            reasons.append(f"median {self.median / self.best:.2g} × best > {MEDIAN_OVER_BEST:g}")
        return "; ".join(reasons) or None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"values": list(self.values), "calls_per_repeat": self.calls_per_repeat,
                "faults_per_call": self.faults_per_call, "others_cpu": self.others_cpu}

    @classmethod
    def pooled(cls, timings: list[Timing]) -> Timing:
        """One timing from several processes' batches: the median of all their batches, the page
        faults averaged, and the largest share other processes took."""
        values = tuple(v for t in timings for v in t.values)
        faults = [t.faults_per_call for t in timings if t.faults_per_call is not None]
        others = [t.others_cpu for t in timings if t.others_cpu is not None]
        return cls(statistics.median(values), values, timings[0].calls_per_repeat,
                   sum(faults) / len(faults) if faults else None, max(others) if others else None)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Timing:
        """The inverse of :meth:`to_dict`."""
        values = tuple(float(v) for v in data["values"])  # type: ignore[union-attr]
        faults, others = data.get("faults_per_call"), data.get("others_cpu")
        return cls(
            statistics.median(values),
            values,
            int(data["calls_per_repeat"]),  # type: ignore[arg-type]
            None if faults is None else float(faults),  # type: ignore[arg-type]
            None if others is None else float(others),  # type: ignore[arg-type]
        )


def calls_per_batch(call: Callable[[], object], min_seconds: float = MIN_BATCH_SECONDS) -> int:
    """How many calls make a batch of at least ``min_seconds``, from one warm call's time."""
    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    return max(1, int(min_seconds / max(once, 1e-9)) + 1)


def time_call(call: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Time a call: ``warmup`` unmeasured calls, then ``repeats`` batches.

    The garbage collector is off while a batch runs, as in :mod:`timeit`.

    Args:
        call: a zero-argument call that blocks until its result exists.
        repeats: batches (at least 1); the median is reported.
        warmup: calls before measuring (JIT compilation, caches, thread pools).

    Returns:
        The :class:`Timing`, in seconds per call.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        call()
    count = calls_per_batch(call)
    values = []
    faults_before, ticks_before = minor_faults(), cpu_ticks()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(count):
                call()
            values.append((time.perf_counter() - start) / count)
    finally:
        if was_enabled:
            gc.enable()
    faults_after, ticks_after = minor_faults(), cpu_ticks()
    faults = None if faults_before is None or faults_after is None else (faults_after - faults_before) / (repeats * count)
    return Timing(statistics.median(values), tuple(values), count, faults, others_share(ticks_before, ticks_after))

