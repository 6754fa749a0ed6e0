"""Gradient descent on a Dask cluster: the runner's objective, evaluated where the data live.

R = Σᵢ ‖yᵢ − f(xᵢ)‖² is a sum over samples, so R and ∇R are sums of the same
quantities over any split of the rows.  The data are split into partitions
held in the workers' memory (:mod:`symbp.cluster.partitions`), and the
kernel's ``loss_and_grad`` is evaluated on each partition where it lives
(:mod:`symbp.cluster.worker`); the client adds the partial sums in partition
order, so the result does not depend on which worker ran what.  The runner
(:func:`symbp.training.runner.run`) is unchanged: it is handed a
:class:`DaskObjective` instead of a closure over in-memory arrays.

What travels:

* the data, once, into the workers' memory (:class:`Partitions`): read there
  from a CSV file (byte ranges, the local reader's parser) or an ``.npy`` file (memory-mapped row
  ranges), or sent from the client for in-memory arrays and ``.npz`` files;
* the kernel, once, as its source text, which a worker plugin compiles into a
  fresh module on every worker, present and future (a restarted one too);
* the parameters, at each evaluation, as the small argument of one task per
  partition.

Fault tolerance: every partition is the result of a task whose inputs are a
file name and a row range, or the rows themselves, so when a worker dies
Dask recomputes its partitions elsewhere and reruns the step's tasks; the
step completes with the same result.

Dask is optional (``pip install -e ".[dask]"``): it is imported only when a
function here is called.

Example:
    >>> client = connect(None)                                  # doctest: +SKIP
    >>> parts = read_data(client, "runs.csv", target="y")       # doctest: +SKIP
    >>> result = train_on_cluster("k.py", parts, client, steps=200)   # doctest: +SKIP
    >>> client.close()                                          # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from symbp.cluster.partitions import Partitions, _default_partitions, partition, read_data
from symbp.cluster.worker import converted, kernel_plugin, partition_loss_and_grad, warm_up
from symbp.errors import DataError, UserError
from symbp.kernel.load import KernelSource, compile_kernel, read_kernel
from symbp.training.fit import check_network_size, check_ranges, kernel_dtype
from symbp.training.objective import ObjectiveUnavailable
from symbp.training.runner import run
from symbp.training.settings import DIVERGENCE_FACTOR
from symbp.training.state import RunResult
from symbp.training.settings import RUN_SETTINGS_KEYWORDS, RunSettings, settings_from

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["RETRIES", "DaskObjective", "check_full_batch", "train_on_cluster"]

#: Each per-partition task is retried this often if it raises (a worker that dies is handled by Dask itself).
RETRIES = 2
#: A step waits this long (seconds) for a worker when the cluster has none left, then the run stops with its
#: state (Dask itself would wait for one for ever).
NO_WORKER_GRACE = 30.0
#: A step whose results have not all arrived after STALL_FACTOR × the longest step so far (and at least
#: STALL_FLOOR seconds) while the cluster has workers is taken as stalled: Dask's scheduler can lose track of
#: a task finished on a worker that fetched its partition from a worker that died meanwhile, and would then
#: wait for it for ever.  The step is submitted once more (new tasks, the same partitions); a second stall
#: ends the run with its state.
STALL_FACTOR = 20.0
STALL_FLOOR = 45.0
#: How often (seconds) a step that is still running looks whether the cluster has any worker left.
_LOOK_EVERY = 1.0

_FULL_BATCH_ONLY = "mini-batches are not supported with --dask: the cluster evaluates the full batch; leave out --batch-size"


class DaskObjective:
    """The runner's objective ``(params, batch) -> (R, ∇R)``, evaluated partition by partition.

    On creation the kernel is loaded and checked on the client (its body
    hash, as :func:`symbp.load_kernel` does), the data are checked against it
    (p and d), and its source text is registered as a worker plugin, which
    compiles it into a fresh module on every worker, including workers that
    join or restart later, and keeps the worker's heap for its temporaries;
    then the kernel runs once on each partition's first block (a warm-up).  Each call submits one task per partition, each
    run where its partition lives, and adds the partial (R, ∇R) in partition
    order: the same numbers whichever worker ran what.

    Args:
        client: the cluster holding the partitions.
        kernel: the kernel ``.py`` written by :func:`symbp.emit`, or its text as :func:`symbp.kernel.load.read_kernel` read it.
        partitions: the data, from :func:`partition` or :func:`read_data`.
        trust: load a kernel edited by hand (as ``load_kernel(trust=True)``).

    Attributes:
        kernel: the kernel module, loaded on the client (``init_params``, P, D, ...).
        n_samples: rows in all partitions.
        plugin: the name of the worker plugin that holds the compiled kernel
            (``symbp-kernel-``, the start of its source's sha256, a unique suffix).

    Example:
        >>> objective = DaskObjective(client, "k.py", parts)           # doctest: +SKIP
        >>> R, grad = objective(objective.kernel.init_params(parts.p), None)   # doctest: +SKIP
        >>> objective.close()                                          # doctest: +SKIP
    """

    def __init__(self, client: Client, kernel: KernelSource | str | os.PathLike[str], partitions: Partitions, *, trust: bool = False) -> None:
        # The text read and verified once is what runs here and on every worker.
        source = kernel if isinstance(kernel, KernelSource) else read_kernel(kernel, trust=trust)
        self.kernel = compile_kernel(source)
        self.client = client
        self.partitions = partitions
        self.n_samples = partitions.n
        self._check_fit(str(source.path))
        self._longest_step = 0.0  # seconds: the stall limit of a step is a multiple of it
        self._placement: dict | None = None  # a holding worker → its partitions' indices (_placement_groups)
        self._convert()
        digest = source.sha256
        # One plugin per objective, so that closing one never takes the kernel from another.
        self.plugin = f"symbp-kernel-{digest[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            client.register_plugin(kernel_plugin(digest, source.text), name=self.plugin)
        except ImportError as err:  # only if a worker's environment lacks symbp
            raise UserError(f"a Dask worker cannot load the kernel ({err}); install symbp on every worker") from err
        self._warm_up()

    def _warm_up(self) -> None:
        """The kernel evaluated once on each partition's first block, where it lives (:func:`~symbp.cluster.worker.warm_up`).

        So that the first step costs what every step costs.  Whatever goes wrong here is left to
        the first step to report, with the message it always gave.
        """
        from distributed import wait

        try:
            wait(self.client.map(warm_up, self.partitions.futures, plugin=self.plugin, pure=False))
        except Exception:  # noqa: BLE001 - a cluster that fails now fails the first step too, which says why
            pass

    def _convert(self) -> None:
        """A float32 kernel's partitions converted once, on the workers (:func:`~symbp.cluster.worker.converted`).

        The partitions stay float64 for everything else (standardisation, another objective); the
        gradients' sums over partitions are added up here in float64.
        """
        dtype = kernel_dtype(self.kernel)
        if dtype == np.float64:
            return
        peak = float(np.finfo(dtype).max)
        if max(self.partitions.x_peak, abs(self.partitions.y_low), abs(self.partitions.y_high)) > peak:
            raise DataError(
                f"{self.partitions.source}: values beyond {peak:.3g} do not fit the kernel's {dtype}: rescale the data "
                "or emit the kernel with --dtype float64"
            )
        futures = tuple(self.client.map(converted, self.partitions.futures, dtype=dtype.name, pure=False))
        self.partitions = replace(self.partitions, futures=futures)

    def _check_fit(self, kernel_name: str) -> None:
        kernel, parts = self.kernel, self.partitions
        if kernel.P is not None and parts.p != kernel.P:
            raise DataError(
                f"{parts.source} has p = {parts.p} input columns, but the kernel was built for p = {kernel.P}; "
                f"emit a kernel with --inputs {parts.p} (or without --inputs)"
            )
        if parts.d != kernel.D:
            raise DataError(f"{parts.source} has {parts.d} target column(s), but the kernel {kernel_name} has d = {kernel.D} outputs")
        # The checks of local data, on the extremes the workers found: the same messages.
        check_network_size(kernel, parts.n, parts.p, parts.source)
        check_ranges(kernel, parts.source, parts.x_peak, max(abs(parts.y_low), abs(parts.y_high)), parts.y_low, parts.y_high)

    def __call__(self, params: dict[str, np.ndarray], batch: np.ndarray | None) -> tuple[float, dict[str, np.ndarray]]:
        """R and ∇R at ``params`` on all the data; ``batch`` must be None (full batch)."""
        if batch is not None:
            raise UserError(_FULL_BATCH_ONLY)
        params = {name: np.asarray(value) for name, value in params.items()}

        def submit() -> list:
            # Each task where its partition lives (loosely: anywhere if that worker is gone), one map per
            # worker.  Unplaced, Dask may give a task to a worker that is idle now and copy the partition
            # there, at every step.
            futures: list = [None] * len(self.partitions.futures)
            for worker, ks in self._placement_groups().items():
                where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
                mapped = self.client.map(partition_loss_and_grad, [self.partitions.futures[k] for k in ks], plugin=self.plugin,
                                         params=params, pure=False, retries=RETRIES, **where)
                for k, future in zip(ks, mapped):
                    futures[k] = future
            return futures

        started = time.monotonic()
        try:
            results = self._results(submit)
        except ObjectiveUnavailable:
            raise
        except Exception as err:  # noqa: BLE001 - whatever the cluster raises (a lost scheduler, worker or partition) ends the step
            self._placement = None
            reason = (str(err).strip().splitlines() or [""])[0][:200]
            raise ObjectiveUnavailable(f"the Dask cluster failed ({type(err).__name__}: {reason})") from err
        self._longest_step = max(self._longest_step, time.monotonic() - started)
        # The sum in partition order: the same bits whichever worker ran what.
        loss = 0.0
        grad = {name: np.zeros(np.shape(value)) for name, value in params.items()}
        for partial_loss, partial_grad in results:
            loss += float(partial_loss)
            for name in grad:
                grad[name] += partial_grad[name]
        return loss, grad

    def _placement_groups(self) -> dict[str | None, list[int]]:
        """The partitions' indices by a worker that held them when last asked (None: no worker did).

        The scheduler is asked once, and again after a step that failed or stalled: a stale answer
        is harmless, since a task placed on a worker that is gone runs anywhere.
        """
        if self._placement is None:
            holders = self.client.who_has(list(self.partitions.futures))
            self._placement = {}
            for k, part in enumerate(self.partitions.futures):
                workers = holders.get(part.key)
                self._placement.setdefault(min(workers) if workers else None, []).append(k)
        return self._placement

    def _results(self, submit: Callable[[], list]) -> list:
        """The step's results, in partition order, from the tasks ``submit()`` creates (one per partition).

        Two ways a step can wait for ever are bounded.  A result held by a worker that died is
        computed again, which needs a worker; without any, Dask would wait for one for ever: the step
        waits at most NO_WORKER_GRACE seconds.  With workers, a step slower than the stall limit
        (:data:`STALL_FACTOR` × the longest step so far, at least :data:`STALL_FLOOR` seconds) is
        submitted once more, and a second stall ends it.

        Raises:
            ObjectiveUnavailable: no worker for NO_WORKER_GRACE seconds, or the step stalled twice.
        """
        limit = max(STALL_FLOOR, STALL_FACTOR * self._longest_step)
        for _ in range(2):
            futures = submit()
            deadline = time.monotonic() + limit
            results = []
            for future in futures:
                done, value = self._wait(future, deadline)
                if not done:
                    break
                results.append(value)
            else:
                return results
            self.client.cancel(futures)  # stalled: submitted once more, with new tasks
            self._placement = None
        raise ObjectiveUnavailable(
            f"the Dask cluster failed (a step's results did not arrive within {limit:.0f} s, twice, while it had workers)"
        )

    def _wait(self, future: Any, deadline: float) -> tuple[bool, Any]:
        """``(True, result)`` once ``future`` is done, or ``(False, None)`` at ``deadline`` while the cluster has workers.

        Raises:
            ObjectiveUnavailable: the cluster has had no worker for NO_WORKER_GRACE seconds.
            Exception: what the task raised.
        """
        alone_since = None
        while True:
            try:
                return True, future.result(timeout=_LOOK_EVERY)
            except TimeoutError:
                pass  # not there yet: look at the workers
            now = time.monotonic()
            if self.client.nthreads():
                alone_since = None
                if now >= deadline:
                    return False, None
                continue
            alone_since = now if alone_since is None else alone_since
            if now - alone_since >= NO_WORKER_GRACE:
                raise ObjectiveUnavailable(f"the Dask cluster failed (no worker left for {NO_WORKER_GRACE:g} s to run the step)")

    def close(self) -> None:
        """Remove the kernel from the workers (the partitions stay)."""
        try:
            self.client.unregister_worker_plugin(self.plugin)
        except (ValueError, KeyError, OSError, RuntimeError):
            pass  # already gone, or the client or cluster is shutting down

    def __enter__(self) -> DaskObjective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_full_batch(batch_size: int | None) -> None:
    """Refuse mini-batches: the cluster evaluates the full-batch gradient.

    Args:
        batch_size: The batch size asked for; only None (the full batch) is accepted.

    Raises:
        UserError: A batch size was given.

    Example:
        >>> check_full_batch(None)
    """
    if batch_size is not None:
        raise UserError(_FULL_BATCH_ONLY)


def train_on_cluster(
    kernel_path: KernelSource | str | os.PathLike[str],
    partitions_or_data: Partitions | tuple[np.ndarray, np.ndarray] | str | os.PathLike[str],
    client: Client,
    *,
    target: str | Sequence[str] | None = None,
    n_partitions: int | Sequence[int] | None = None,
    trust: bool = False,
    seed: int = 0,
    params0: dict[str, np.ndarray] | None = None,
    steps: int = 1000,
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    settings: RunSettings | None = None,
    **runner_kwargs: Any,
) -> RunResult:
    """Gradient descent on the cluster: :func:`symbp.training.runner.run` with a :class:`DaskObjective`.

    Args:
        kernel_path: the kernel ``.py``, or its text as :func:`symbp.kernel.load.read_kernel` read it.
        partitions_or_data: :class:`Partitions`; or ``(X, y)`` arrays, split by
            :func:`partition`; or a data file, read by :func:`read_data` (with
            ``target``).  Partitions made here are released at the end.
        client: the cluster.
        target, n_partitions: for the data made into partitions here.
        trust: load a kernel edited by hand.
        seed: seeds ``kernel.init_params(p, seed)`` (unused with ``params0`` or ``state``).
        params0: starting parameters instead.
        steps, divergence_factor: as for :func:`symbp.train` (same defaults).
        settings: the run's :class:`~symbp.training.settings.RunSettings`, instead of
            ``seed``, ``steps``, ``divergence_factor`` and the settings among ``runner_kwargs``.
        runner_kwargs: any other argument of :func:`symbp.training.runner.run`
            (``step_size``, ``grad_tol``, ``patience``, ``callback``,
            ``stop_requested``, ``state``, ...).  ``batch_size`` must be None.

    Returns:
        The runner's :class:`~symbp.training.state.RunResult`.

    Raises:
        UserError: mini-batches were asked for, or what the parts above raise.

    Example:
        >>> with connect(None) as client:                                  # doctest: +SKIP
        ...     result = train_on_cluster("k.py", "data.csv", client, target="y", steps=500)
    """
    keywords = dict(steps=steps, seed=seed, divergence_factor=divergence_factor)
    keywords |= {name: runner_kwargs.pop(name) for name in RUN_SETTINGS_KEYWORDS if name in runner_kwargs}
    check_full_batch(keywords.get("batch_size") if settings is None else settings.batch_size)
    owned = not isinstance(partitions_or_data, Partitions)
    if isinstance(partitions_or_data, Partitions):
        partitions = partitions_or_data
    elif isinstance(partitions_or_data, tuple):
        X, y = partitions_or_data
        count = n_partitions or min(len(X), _default_partitions(client, np.asarray(X).nbytes))
        partitions = partition(X, y, count, client=client)
    else:
        partitions = read_data(client, partitions_or_data, target, n_partitions=n_partitions)  # type: ignore[arg-type]
    try:
        with DaskObjective(client, kernel_path, partitions, trust=trust) as objective:
            if runner_kwargs.get("state") is None and params0 is None:
                params0 = objective.kernel.init_params(partitions.p, seed=seed if settings is None else settings.seed)
            settings = settings_from(train_on_cluster, settings, keywords)
            return run(objective, params0, settings=settings, n_samples=partitions.n, **runner_kwargs)
    finally:
        if owned:
            partitions.release()
