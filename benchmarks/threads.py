"""How many threads an implementation may use, set in its fresh process's environment.

Every peer is timed twice, single-threaded and with two threads, and the better
of the two is what the kernel is compared with: on a 2-core machine a library's
second thread may help (large products) or cost (a spinning idle thread, or a
machine where the other core is busy), and which one wins differs by library and
size.  The variables must be set before the libraries are imported, so they go
into the environment of the worker process (:mod:`benchmarks.worker`).
"""

from __future__ import annotations

#: The thread counts every peer is timed with.
PEER_THREADS: tuple[int, ...] = (1, 2)

#: The variable the PyTorch peer reads (torch.set_num_threads is a call, not a variable).
TORCH_THREADS: str = "SYMBP_BENCH_THREADS"


def environment(threads: int) -> dict[str, str]:
    """The environment variables that hold every library in the peers to ``threads`` threads.

    OpenBLAS (NumPy, scikit-learn, the floor), OpenMP and MKL read theirs at load
    time; XLA (JAX) runs single-threaded only with Eigen's pool switched off;
    PyTorch's count is set by the peer from :data:`TORCH_THREADS`.

    Example:
        >>> environment(1)["OPENBLAS_NUM_THREADS"]
        '1'
        >>> "intra_op_parallelism_threads=1" in environment(1)["XLA_FLAGS"], environment(2)["XLA_FLAGS"]
        (True, '')
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    single = threads == 1
    return {
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" if single else "",
        TORCH_THREADS: str(threads),
    }


def label(threads: int | None) -> str:
    """``1 thread``, ``2 threads``, or ``default threads`` (None: the implementation's own choice)."""
    if threads is None:
        return "default threads"
    return f"{threads} thread" + ("" if threads == 1 else "s")
