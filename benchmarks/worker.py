"""Check and time one implementation on one case, alone in this process.

``python -m benchmarks.worker SPEC`` where SPEC is the JSON of a :class:`Job`;
prints the row (:meth:`benchmarks.measure.PeerResult.to_dict`) as JSON on the
last line.  The problem is rebuilt here from the same seed, so it is the one
the kernel's reference (R, ∇R) was computed on.

Before anything else the worker warms the C allocator (:func:`warm_allocator`),
so that every implementation meets the same allocator state, that of a
process which has already freed a large array; the diagnostic row
:data:`~benchmarks.measure.KERNEL_COLD` skips this.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks.cases import Case, Size, make_problem
from benchmarks.measure import KERNEL, KERNEL_COLD, PeerResult, kernel_prepared, measure
from benchmarks.peers import PARAMETERS, PEERS, Result


#: Bytes of the array that :func:`warm_allocator` allocates and frees: just under
#: glibc's largest dynamic mmap threshold (32 MiB on 64-bit machines).
WARM_BYTES: int = 32_000_000


@dataclass(frozen=True)
class Job:
    """What a worker does: ``name`` (a peer's or :data:`KERNEL`) on the case, checked against the reference file."""

    name: str
    sigma: str
    n: int
    p: int
    M: int
    kernel: str
    reference: str
    repeats: int
    #: The thread count the parent set in this process's environment (None: the implementation's default).
    threads: int | None = None

    def to_json(self) -> str:
        """The command-line form."""
        return json.dumps(asdict(self))


def warm_allocator() -> None:
    """Allocate, touch and free one large array, as a process that loaded and transformed data has.

    glibc's malloc serves large blocks with mmap and hands small freed memory
    back to the OS; the first large block freed raises both thresholds, after
    which blocks of up to that size are kept and reused.  Without this, whether
    a call's temporaries cost page faults on every call would depend on what
    the process happened to allocate before, and the figures would flip from
    run to run.  Other allocators are merely given one allocation to do.
    """
    np.ones(WARM_BYTES // 8)


def import_kernel(path: str) -> ModuleType:
    """The kernel module, imported as a plain module (the parent already verified it with symbp.load_kernel)."""
    spec = importlib.util.spec_from_file_location(f"bench_kernel_{Path(path).stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the kernel {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_reference(path: Path, reference: Result) -> None:
    """Write the kernel's (R, gradient) for the workers."""
    R, grads = reference
    np.savez(path, R=np.float64(R), **grads)


def load_reference(path: str) -> Result:
    """Read what :func:`save_reference` wrote."""
    with np.load(path) as data:
        return float(data["R"]), {name: data[name] for name in PARAMETERS}


def run_job(job: Job) -> PeerResult:
    """Warm the allocator (except for the cold row), build the problem, then check and time the job's implementation."""
    if job.name != KERNEL_COLD:
        warm_allocator()
    kernel = import_kernel(job.kernel)
    case = Case(Size(job.n, job.p, job.M), job.sigma)
    problem = make_problem(kernel, case.size)
    if job.name in (KERNEL, KERNEL_COLD):
        return measure(job.name, lambda: kernel_prepared(kernel, problem), load_reference(job.reference), job.repeats)
    peer = next((p for p in PEERS if p.name == job.name), None)
    if peer is None:
        raise ValueError(f"no implementation is called {job.name!r}; the workers know {KERNEL!r} and {', '.join(repr(p.name) for p in PEERS)}")
    row = measure(peer.name, lambda: peer.prepare(case, problem), load_reference(job.reference), job.repeats)
    return replace(row, threads=job.threads)


def main(argv: list[str]) -> int:
    """Run the job given as JSON and print its row as JSON."""
    job = Job(**json.loads(argv[0]))
    print(json.dumps(run_job(job).to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
