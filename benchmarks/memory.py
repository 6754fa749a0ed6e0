"""Peak extra memory of one ``loss_and_grad``, measured with :mod:`tracemalloc`.

NumPy reports its array buffers to tracemalloc, so the peak traced while one
call runs is what the call allocated on top of its inputs: temporaries and the
result.  Memory that BLAS keeps for itself is not seen.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from types import ModuleType

from benchmarks.cases import Problem, Size


@dataclass(frozen=True)
class MemoryResult:
    """Peak bytes allocated during one call, and the issue's budget n·M·8/4 (a quarter of one n × M array)."""

    size: Size
    sigma: str
    peak_bytes: int

    @property
    def budget_bytes(self) -> int:
        """n·M·8/4."""
        return self.size.n * self.size.M * 8 // 4

    @property
    def met(self) -> bool:
        """Whether the peak stays under the budget."""
        return self.peak_bytes < self.budget_bytes


def peak_extra_bytes(kernel: ModuleType, problem: Problem) -> int:
    """Bytes allocated at the peak of one ``kernel.loss_and_grad`` call, beyond what existed before it."""
    kernel.loss_and_grad(problem.params, problem.X, problem.y)  # warm: first-call allocations are not the kernel's
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = kernel.loss_and_grad(problem.params, problem.X, problem.y)
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def measure_memory(kernel: ModuleType, problem: Problem, size: Size, sigma: str) -> MemoryResult:
    """:func:`peak_extra_bytes` as a :class:`MemoryResult`."""
    return MemoryResult(size=size, sigma=sigma, peak_bytes=peak_extra_bytes(kernel, problem))
