"""One row of the table: check an implementation against the kernel, then time it.

The check comes first and a wrong answer is never timed; a library that is not
installed gives a row saying so instead of no row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType

from benchmarks.cases import Problem
from benchmarks.peers import INSTALL_HINT, Prepared, Result, relative_difference, rtol_for
from benchmarks.timing import Timing, time_call

#: The name of the kernel's own row.
KERNEL: str = "symbp kernel"

#: A diagnostic row: the same kernel in a process whose allocator was not warmed
#: (see :func:`benchmarks.worker.warm_allocator`), where glibc hands freed
#: temporaries back to the OS and every call pays page faults to get them back.
#: Not a peer; no target refers to it.
KERNEL_COLD: str = "symbp kernel, cold allocator"


class Check(enum.Enum):
    """What the correctness check said about an implementation."""

    OK = "ok"
    MISMATCH = "MISMATCH"
    MISSING = "missing"
    NOT_A_GRADIENT = "n/a"


@dataclass(frozen=True)
class PeerResult:
    """One row of the table.

    Attributes:
        name: the implementation's name (:data:`KERNEL` for the kernel).
        check: the outcome of comparing its (R, ∇R) with the kernel's.
        difference: the largest relative difference found (None when not compared).
        timing: seconds per call (None when missing or mismatched: a wrong answer is not timed).
        note: why it is missing or how it failed.
        threads: the thread count it was held to (None: its own default).
        others: the figures of the configurations not chosen (e.g. ``1 thread: 12.3 ms``).
        attempts: how many times it was measured (more than 1: the first were disturbed).
    """

    name: str
    check: Check
    difference: float | None = None
    timing: Timing | None = None
    note: str = ""
    threads: int | None = None
    others: str = ""
    attempts: int = 1

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, for the worker processes."""
        return {
            "name": self.name,
            "check": self.check.value,
            "difference": self.difference,
            "timing": None if self.timing is None else self.timing.to_dict(),
            "note": self.note,
            "threads": self.threads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PeerResult:
        """The inverse of :meth:`to_dict`."""
        timing = data["timing"]
        difference = data["difference"]
        return cls(
            name=str(data["name"]),
            check=Check(data["check"]),
            difference=None if difference is None else float(difference),  # type: ignore[arg-type]
            timing=None if timing is None else Timing.from_dict(timing),  # type: ignore[arg-type]
            note=str(data["note"]),
            threads=None if data.get("threads") is None else int(data["threads"]),  # type: ignore[arg-type]
        )


def pooled(rows: list[PeerResult]) -> PeerResult:
    """One implementation's rows from several fresh processes as one row.

    A row without a timing (missing, or disagreeing with the kernel) stands for all of them.
    """
    for row in rows:
        if row.timing is None:
            return row
    differences = [r.difference for r in rows if r.difference is not None]
    return PeerResult(rows[0].name, rows[0].check, max(differences) if differences else None,
                      Timing.pooled([r.timing for r in rows if r.timing is not None]), rows[0].note, rows[0].threads)


def fastest(rows: list[PeerResult]) -> PeerResult:
    """One implementation's configurations (thread counts) as one row: the one with the lowest median.

    The lowest, not the lowest undisturbed: a disturbance only slows a run down, so the
    fastest configuration is the best estimate of what the library can do, and if it
    was disturbed the target is left unchecked rather than judged against a slower one.
    A row without a timing (missing, or disagreeing with the kernel) stands for all.

    Example:
        >>> one = PeerResult("x", Check.OK, 0.0, Timing(0.012, (0.012,), 1), threads=1)
        >>> two = PeerResult("x", Check.OK, 0.0, Timing(0.009, (0.009,), 1), threads=2)
        >>> best = fastest([one, two])
        >>> best.threads, best.others
        (2, '1 thread: 12.000 ms')
    """
    from benchmarks.threads import label

    if any(row.timing is None for row in rows):
        return next(row for row in rows if row.timing is None)
    best = min(rows, key=lambda row: row.timing.median)  # type: ignore[union-attr]
    others = "; ".join(f"{label(r.threads)}: {r.timing.median * 1e3:.3f} ms" + (" (disturbed)" if r.timing.disturbance() else "")  # type: ignore[union-attr]
                       for r in rows if r is not best)
    return replace(best, others=others, attempts=max(r.attempts for r in rows))


def kernel_prepared(kernel: ModuleType, problem: Problem) -> Prepared:
    """The kernel's own ``loss_and_grad`` as a contender."""

    def call() -> Result:
        return kernel.loss_and_grad(problem.params, problem.X, problem.y)

    return Prepared(call=call, result=call)


def measure(name: str, prepare: Callable[[], Prepared], reference: Result, repeats: int) -> PeerResult:
    """Prepare an implementation, compare its (R, ∇R) with ``reference``, and time it if they agree.

    Args:
        name: the row's name.
        prepare: builds the contender; an ImportError means its library is missing.
        reference: the kernel's (R, gradient) on the same problem.
        repeats: timed batches.

    Returns:
        The row: OK or NOT_A_GRADIENT with a timing, MISSING, or MISMATCH (not timed).
    """
    try:
        prepared = prepare()
    except ImportError as err:
        return PeerResult(name, Check.MISSING, note=f"{INSTALL_HINT}: {err}")
    if prepared.result is None:
        return PeerResult(name, Check.NOT_A_GRADIENT, timing=time_call(prepared.call, repeats))
    difference = relative_difference(reference, prepared.result())
    rtol = rtol_for(reference)
    if not difference <= rtol:  # also catches NaN
        return PeerResult(name, Check.MISMATCH, difference, note=f"relative difference {difference:.3g} > {rtol:g}")
    return PeerResult(name, Check.OK, difference, time_call(prepared.call, repeats))
