"""The measurements, in order: check and time every case, then memory, start-up and training.

Each implementation of each case is checked and timed in a fresh process of
its own (:mod:`benchmarks.worker`), so that no library's thread pool disturbs
another's and each runs in its default configuration.  :func:`run_suite`
returns plain results; :mod:`benchmarks.report` turns them into the table and
the target lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from benchmarks.cases import MEMORY_SIZE, SIGMAS, Case, Kernels, Size, make_problem
from benchmarks.measure import KERNEL, KERNEL_COLD, Check, PeerResult, fastest, kernel_prepared, measure, pooled
from benchmarks.memory import MemoryResult, measure_memory
from benchmarks.peers import PEERS, PEERS_FLOAT32, Peer
from benchmarks.processes import last_json, run_python
from benchmarks.startup import Startup, measure_startup
from benchmarks.threads import PEER_THREADS
from benchmarks.threads import environment as threads_environment
from benchmarks.training import HIDDEN, Training, measure_training_in_fresh_process
from benchmarks.worker import Job, save_reference


@dataclass(frozen=True)
class CaseResult:
    """The kernel's row and every peer's for one case."""

    case: Case
    rows: tuple[PeerResult, ...]

    def row(self, name: str) -> PeerResult | None:
        """The row of the named implementation, or None when it was not part of the run."""
        return next((r for r in self.rows if r.name == name), None)

    def ratio(self, name: str) -> float | None:
        """Kernel time ÷ the named implementation's time, when both were timed."""
        ours, theirs = self.row(KERNEL), self.row(name)
        if ours is None or theirs is None or ours.timing is None or theirs.timing is None:
            return None
        return ours.timing.median / theirs.timing.median


@dataclass(frozen=True)
class SuiteResult:
    """Everything measured in one run; ``memory``, ``startup`` and ``training`` are None when skipped."""

    sizes: tuple[Size, ...]
    repeats: int
    isolated: bool
    cases: tuple[CaseResult, ...]
    memory: tuple[MemoryResult, ...] | None
    startup: Startup | None
    training: Training | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    rounds: int = 1  # fresh processes per implementation and case, their batches pooled
    dtype: str = "float64"  # what the kernel and its peers computed in

    @property
    def mismatches(self) -> list[tuple[Case, PeerResult]]:
        """Every implementation whose answer differed from the kernel's."""
        return [(c.case, r) for c in self.cases for r in c.rows if r.check is Check.MISMATCH]


def _in_worker(job: Job) -> PeerResult:
    environment = None if job.threads is None else threads_environment(job.threads)
    _, stdout = run_python("-m", "benchmarks.worker", job.to_json(), environment=environment)
    return PeerResult.from_dict(last_json(stdout))


#: Fresh processes per implementation and case, taken in turn (kernel, peers, kernel, peers, …).
#: Their batches are pooled: a shared machine that slows down for a minute then slows
#: every implementation alike instead of the one that happened to run then.
ROUNDS: int = 3

#: How many times a disturbed row is measured again (all its rounds) before it is reported disturbed.
RETRIES: int = 2


def rounds_run(rounds: int, repeats: int) -> int:
    """How many rounds :func:`run_case` runs: at least one, and never more than the batches asked for."""
    return max(1, min(rounds, repeats))


def run_case(
    kernel: ModuleType,
    case: Case,
    repeats: int,
    peers: tuple[Peer, ...] | None = None,
    *,
    isolate: bool = True,
    rounds: int = ROUNDS,
    retries: int = RETRIES,
) -> CaseResult:
    """Check every peer against the kernel on one case, then time the kernel and the peers that agree.

    Args:
        kernel: the loaded kernel module for the case's σ and M (its file is reused by the workers).
        case: size and σ.
        repeats: timed batches per implementation (spread over the rounds).
        peers: default :data:`~benchmarks.peers.PEERS`.
        isolate: fresh processes for each implementation (the peers must then be
            ones in PEERS), each peer once per thread count of
            :data:`~benchmarks.threads.PEER_THREADS` with the fastest reported, plus
            the diagnostic row :data:`KERNEL_COLD`; False runs everything in this process.
        rounds: with isolate, how many fresh processes each implementation gets,
            in turn with the others'; their batches are pooled.
        retries: with isolate, how many times a disturbed row is measured again.
    """
    peers = PEERS if peers is None else peers
    problem = make_problem(kernel, case.size)
    reference = kernel.loss_and_grad(problem.params, problem.X, problem.y)
    if not isolate:
        rows = [measure(KERNEL, lambda: kernel_prepared(kernel, problem), reference, repeats)]
        rows += [measure(p.name, lambda p=p: p.prepare(case, problem), reference, repeats) for p in peers]
        return CaseResult(case, tuple(rows))
    reference_file = Path(kernel.__file__).with_suffix(f".n{case.size.n}.reference.npz")
    save_reference(reference_file, reference)
    size = case.size
    rounds = rounds_run(rounds, repeats)
    per_round = -(-repeats // rounds)  # at least repeats batches in all

    def job(name: str, threads: int | None) -> Job:
        return Job(name, case.sigma, size.n, size.p, size.M, str(kernel.__file__), str(reference_file), per_round, threads)

    configurations = [(KERNEL, None), (KERNEL_COLD, None), *((p.name, t) for p in peers for t in PEER_THREADS)]
    results: dict[tuple[str, int | None], list[PeerResult]] = {c: [] for c in configurations}
    for _ in range(rounds):
        for configuration in configurations:
            results[configuration].append(_in_worker(job(*configuration)))
    rows = remeasured({c: pooled(results[c]) for c in configurations}, lambda c: pooled([_in_worker(job(*c)) for _ in range(rounds)]), retries)
    chosen = [rows[KERNEL, None], rows[KERNEL_COLD, None]]
    chosen += [fastest([rows[p.name, t] for t in PEER_THREADS]) for p in peers]
    return CaseResult(case, tuple(chosen))


def remeasured(rows: dict, measure_again: Callable[[object], PeerResult], retries: int) -> dict:
    """``rows`` with every disturbed row measured again, up to ``retries`` times, the last measurement kept.

    A row is disturbed when its timing says so (:meth:`~benchmarks.timing.Timing.disturbance`):
    no target may be judged by it, so it is worth another try while the machine may have
    quietened down.  The row's ``attempts`` counts its measurements.

    Example:
        >>> from benchmarks.timing import Timing
        >>> noisy = PeerResult("x", Check.OK, 0.0, Timing(0.02, (0.01, 0.03), 1))
        >>> quiet = PeerResult("x", Check.OK, 0.0, Timing(0.01, (0.01, 0.0101), 1))
        >>> remeasured({"x": noisy}, lambda key: quiet, retries=2)["x"].attempts
        2
    """
    rows = dict(rows)
    for _ in range(retries):
        disturbed = [key for key, row in rows.items() if row.timing is not None and row.timing.disturbance() is not None]
        for key in disturbed:
            rows[key] = replace(measure_again(key), attempts=rows[key].attempts + 1)
        if not disturbed:
            break
    return rows


def run_suite(
    sizes: tuple[Size, ...],
    repeats: int,
    *,
    extras: bool = True,
    quick: bool = False,
    isolate: bool = True,
    rounds: int = ROUNDS,
    retries: int = RETRIES,
    progress: Callable[[str], None] = lambda message: None,
    dtype: str = "float64",
) -> SuiteResult:
    """Run the benchmarks.

    Args:
        sizes: the (n, p, M) to time, each with every σ in :data:`SIGMAS`.
        repeats: timed batches per implementation and case (the median is reported).
        extras: also measure memory, start-up and training.
        quick: for the extras, one fresh process per start-up figure, derive
            and emit for M = 3 only, one training run each (for smoke tests); otherwise five, alternating.
        isolate: time each implementation in fresh processes (see :func:`run_case`).
        rounds: fresh processes per implementation and case, in turn (see :func:`run_case`).
        retries: how many times a disturbed row is measured again (see :func:`run_case`).
        progress: called with a line of text as each part starts.
        dtype: float64, or float32: a float32 kernel against the float32 peers (:data:`PEERS_FLOAT32`), without
            the extras (their targets are float64's).

    Returns:
        The :class:`SuiteResult`.
    """
    load_before = os.getloadavg()
    peers = PEERS_FLOAT32 if dtype == "float32" else PEERS
    extras = extras and dtype == "float64"
    kernels = Kernels()
    try:
        cases = []
        for size in sizes:
            for sigma in SIGMAS:
                progress(f"timing {size} sigma={sigma} {dtype}")
                kernel = kernels.get(sigma, size.M, dtype)
                cases.append(run_case(kernel, Case(size, sigma), repeats, peers, isolate=isolate, rounds=rounds, retries=retries))
        memory = startup = training = None
        if extras:
            progress(f"memory at {MEMORY_SIZE}")
            memory = tuple(
                measure_memory(kernels.get(sigma, MEMORY_SIZE.M), make_problem(kernels.get(sigma, MEMORY_SIZE.M), MEMORY_SIZE), MEMORY_SIZE, sigma)
                for sigma in SIGMAS
            )
            progress("start-up (fresh processes)")
            startup = measure_startup((3,), runs=1) if quick else measure_startup()
            progress("training on the diabetes data")
            training = measure_training_in_fresh_process(kernels.get("tanh", HIDDEN), runs=1 if quick else 5)
    finally:
        kernels.close()
    return SuiteResult(
        sizes=sizes,
        repeats=repeats,
        isolated=isolate,
        rounds=rounds_run(rounds, repeats) if isolate else 1,
        cases=tuple(cases),
        memory=memory,
        startup=startup,
        training=training,
        load_before=load_before,
        load_after=os.getloadavg(),
        dtype=dtype,
    )
