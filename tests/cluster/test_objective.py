"""Tests for symbp/cluster/objective.py: the gradient and training runs on the cluster equal those in one process.

The reference everywhere is the same kernel run in this process on all the data:
the cluster must give the same gradient (up to rounding) and the same training
run, also when a worker is killed midway.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from symbp import cluster
from symbp.cluster.objective import DaskObjective
from symbp.errors import DataError, UserError
from symbp.training import DIVERGENCE_FACTOR, run
from tests.helpers import SLOW, assert_grad_close, skip_without_dask

skip_without_dask()


def local_run(kernel, X, y, **settings):
    """The reference: the runner with the kernel's own loss_and_grad on all data, in this process."""
    params0 = kernel.init_params(X.shape[1], seed=0)
    return run(lambda params, batch: kernel.loss_and_grad(params, X, y), params0, n_samples=len(X),
               divergence_factor=DIVERGENCE_FACTOR, **settings)


@pytest.fixture(scope="module")
def undisturbed(client, kernel_path, data, sizes):
    """The parameters after 20 Armijo steps on the cluster with nothing killed."""
    parts = cluster.partition(*data, sizes, client=client)
    try:
        return cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size="armijo").params
    finally:
        parts.release()


def assert_params_close(got, want, tol=1e-9):
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=tol, atol=tol, err_msg=name)


# --- (a) the gradient ------------------------------------------------------------------


def test_gradient_on_the_cluster_equals_the_single_process_gradient(client, kernel_path, kernel, parts, data):
    X, y = data
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        for seed in range(3):
            params = kernel.init_params(kernel.P, seed=seed)
            got = objective(params, None)
            assert_grad_close(got, kernel.loss_and_grad(params, X, y), rtol=1e-10)
            again = objective(params, None)
            assert again[0] == got[0]  # summed in partition order: the same bits every time
            assert all(np.array_equal(again[1][name], got[1][name]) for name in got[1])


def test_the_kernel_is_compiled_on_every_worker(client, kernel_path, parts):
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        compiled = client.run(lambda dask_worker, name=objective.plugin: dask_worker.plugins[name].module is not None)
    assert list(compiled.values()) == [True, True]


def _minor_faults():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_step_on_the_workers_takes_no_fresh_memory(client, kernel_path, kernel):
    """After the warm-up and a first step, a step's kernel temporaries come from the workers' heaps: hardly a page fault.

    Without the heap kept (training/heap.py), Dask's workers map each 256 KiB array of every block
    afresh: about 2 000 faults per call on these 2 × 40 000 rows.
    """
    from symbp.cluster.worker import warm_up

    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((80_000, kernel.P)), rng.standard_normal(80_000)
    parts = cluster.partition(X, y, 2, client=client)
    try:
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            # The first block and one as long as the last (40 000 rows: 4 full blocks and the rest).
            assert client.submit(warm_up, parts.futures[0], plugin=objective.plugin, pure=False).result() == kernel.BLOCK + 40_000 % kernel.BLOCK
            params = kernel.init_params(kernel.P, seed=0)
            # The first step of a fresh cluster also pays Dask's own first-task costs on each worker
            # (about 230 to 700 faults, its own structures, not the kernel's): the steps after it are measured.
            objective(params, None)
            before = client.run(_minor_faults)
            for _ in range(3):
                objective(params, None)
            after = client.run(_minor_faults)
        per_call = sum(after[worker] - before[worker] for worker in before) / 3
        assert per_call < 300, f"{per_call:.0f} page faults per call on the workers"
    finally:
        parts.release()


# --- (b) training ---------------------------------------------------------------------


@pytest.mark.parametrize("step_size", ["armijo", "constant:1e-3"])
def test_training_on_the_cluster_ends_where_the_single_process_run_ends(client, kernel_path, kernel, parts, data, step_size):
    result = cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size=step_size, seed=0)
    reference = local_run(kernel, *data, steps=20, step_size=step_size)
    assert (result.reason, result.steps) == (reference.reason, reference.steps) and result.steps == 20
    assert result.final_loss < result.history[0].loss  # it learnt something
    assert_params_close(result.params, reference.params)
    np.testing.assert_allclose([r.loss for r in result.history], [r.loss for r in reference.history], rtol=1e-9)


def test_train_on_cluster_takes_arrays_and_leaves_no_partitions_behind(client, kernel_path, kernel, data):
    before = set(client.who_has())
    result = cluster.train_on_cluster(kernel_path, data, client, n_partitions=3, steps=5, step_size="armijo")
    assert_params_close(result.params, local_run(kernel, *data, steps=5, step_size="armijo").params)
    deadline = time.monotonic() + 10
    while not set(client.who_has()) <= before and time.monotonic() < deadline:
        time.sleep(0.05)  # releasing is a message to the scheduler, not instant
    assert set(client.who_has()) <= before


# --- (d) data that do not fit the kernel, and mini-batches ------------------------------------


def test_data_that_do_not_fit_the_kernel_are_refused(client, kernel_path, data):
    X, y = data
    parts = cluster.partition(X[:, :2], y, 2, client=client)
    try:
        with pytest.raises(DataError, match="p = 2 input columns, but the kernel was built for p = 3"):
            cluster.DaskObjective(client, kernel_path, parts)
    finally:
        parts.release()


def test_mini_batches_are_refused(client, kernel_path, kernel, parts):
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        with pytest.raises(UserError, match="mini-batches are not supported with --dask"):
            objective(kernel.init_params(kernel.P), np.arange(10))
    with pytest.raises(UserError, match="mini-batches are not supported with --dask"):
        cluster.train_on_cluster(kernel_path, parts, client, steps=1, batch_size=10)


# --- (c) a worker dies in the middle of training ---------------------------------------------


@pytest.mark.slow
def test_training_survives_a_worker_killed_midway(client, kernel_path, kernel, data, sizes, undisturbed):
    """SIGKILL the worker holding the first partition after 5 steps: the run ends as if nothing happened."""
    parts = cluster.partition(*data, sizes, client=client)
    pids = client.run(os.getpid)
    victim = pids[client.who_has([parts.futures[0]])[parts.futures[0].key][0]]
    killed = []

    def kill_after_five(row):
        if row.step == 5:
            os.kill(victim, signal.SIGKILL)
            killed.append(row.step)

    try:
        result = cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size="armijo", callback=kill_after_five)
        assert killed == [5]
        reference = local_run(kernel, *data, steps=20, step_size="armijo")
        assert result.steps == 20
        assert_params_close(result.params, reference.params)
        assert_params_close(result.params, undisturbed, tol=0)  # not a bit changed
        # The partition died with its worker and was rebuilt from its task elsewhere.
        holders = client.who_has([parts.futures[0]])[parts.futures[0].key]
        assert holders and all(pids.get(address) != victim for address in holders)

        # The nanny restarts the worker; the kernel plugin is set up on the newcomer too.
        client.wait_for_workers(2, timeout=60)
        assert victim not in client.run(os.getpid).values()
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            compiled = client.run(lambda dask_worker, name=objective.plugin: dask_worker.plugins[name].module is not None)
            assert list(compiled.values()) == [True, True]
            params = kernel.init_params(kernel.P, seed=0)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, *data), rtol=1e-10)
    finally:
        parts.release()


@pytest.mark.slow
def test_a_step_survives_a_worker_killed_before_its_results_are_gathered(client, kernel_path, kernel, data, sizes, undisturbed, monkeypatch):
    """SIGKILL a worker between submitting a step's tasks and gathering them: finished results are lost too."""
    client.wait_for_workers(2, timeout=60)
    parts = cluster.partition(*data, sizes, client=client)
    gathers = []
    real_results = DaskObjective._results

    def results_after_a_kill(self, submit):
        def submit_then_kill():
            futures = submit()
            gathers.append(len(gathers))
            if len(gathers) == 8:
                pids = client.run(os.getpid)
                holder = client.who_has([futures[-1]])[futures[-1].key] or list(pids)  # may still be running
                os.kill(pids[holder[0]], signal.SIGKILL)
            return futures

        return real_results(self, submit_then_kill)

    try:
        monkeypatch.setattr(DaskObjective, "_results", results_after_a_kill)
        result = cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size="armijo")
        monkeypatch.undo()
        assert len(gathers) > 8
        assert_params_close(result.params, undisturbed, tol=0)
        assert_params_close(result.params, local_run(kernel, *data, steps=20, step_size="armijo").params)
    finally:
        monkeypatch.undo()
        parts.release()
        client.wait_for_workers(2, timeout=60)


def _dtype_of(part):
    return str(part[0].dtype), str(part[1].dtype)


@SLOW  # emits a kernel and trains on the cluster
def test_a_float32_kernel_gets_its_partitions_converted_once_and_the_callers_stay(client, parts, data, tmp_path):
    import symbp

    path = symbp.emit(symbp.derive(hidden=4, sigma="tanh", inputs=data[0].shape[1], dtype="float32"), tmp_path)
    k32 = symbp.load_kernel(path)
    X, y = (a.astype(np.float32) for a in data)
    with cluster.DaskObjective(client, path, parts) as objective:
        assert {client.submit(_dtype_of, f, pure=False).result() for f in objective.partitions.futures} == {("float32", "float32")}
        params = k32.init_params(X.shape[1], seed=1)
        assert_grad_close(objective(params, None), k32.loss_and_grad(params, X, y), rtol=1e-5)
    assert {client.submit(_dtype_of, f, pure=False).result() for f in parts.futures} == {("float64", "float64")}
    result = cluster.train_on_cluster(path, parts, client, steps=5, step_size="armijo")
    assert all(value.dtype == np.float32 for value in result.params.values())
