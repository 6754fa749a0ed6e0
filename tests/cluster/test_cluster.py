"""Tests for symbp/cluster.py: gradient descent on a local Dask cluster of two worker processes.

One cluster (two single-threaded worker processes on 127.0.0.1) serves the
whole module.  The reference everywhere is the same kernel run in this
process on all the data: the cluster must give the same gradient (up to
rounding) and the same training run, also when a worker is killed midway.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import symbp
from symbp.data import Standardizer
from symbp.errors import DataError, UserError
from symbp.training.runner import DIVERGENCE_FACTOR, run
from tests.helpers import under_ci

try:
    import dask  # noqa: F401
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError:
    if under_ci():
        raise  # CI installs the [dask] extra: a missing Dask is a failure there, not a skip
    pytest.skip('Dask is not installed (pip install -e ".[dask]")', allow_module_level=True)

from symbp import cluster

P = 3
SIZES = [97, 13, 1, 129]  # uneven, one of a single row
N = sum(SIZES)


# --- fixtures: one cluster, one kernel, one data set ---------------------------------


@pytest.fixture(scope="module")
def client():
    with cluster.connect(None) as client:
        yield client


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    return symbp.emit(symbp.derive(hidden=4, sigma="tanh", inputs=P), tmp_path_factory.mktemp("kernel"))


@pytest.fixture(scope="module")
def kernel(kernel_path):
    return symbp.load_kernel(kernel_path)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, P))
    y = np.sin(X @ np.array([1.0, -2.0, 0.5])) + 0.1 * rng.standard_normal(N)
    return X, y


@pytest.fixture(scope="module")
def parts(client, data):
    parts = cluster.partition(*data, SIZES, client=client)
    yield parts
    parts.release()


def local_run(kernel, X, y, **settings):
    """The reference: the runner with the kernel's own loss_and_grad on all data, in this process."""
    params0 = kernel.init_params(X.shape[1], seed=0)
    return run(lambda params, batch: kernel.loss_and_grad(params, X, y), params0, n_samples=len(X),
               divergence_factor=DIVERGENCE_FACTOR, **settings)


@pytest.fixture(scope="module")
def undisturbed(client, kernel_path, data):
    """The parameters after 20 Armijo steps on the cluster with nothing killed."""
    parts = cluster.partition(*data, SIZES, client=client)
    try:
        return cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size="armijo").params
    finally:
        parts.release()


def assert_grad_close(got, want, rtol):
    loss, grad = got
    loss0, grad0 = want
    assert abs(loss - loss0) <= rtol * abs(loss0)
    assert grad.keys() == grad0.keys()
    for name in grad0:
        scale = np.max(np.abs(grad0[name]))
        assert np.max(np.abs(grad[name] - grad0[name])) <= rtol * scale, name


def assert_params_close(got, want, tol=1e-9):
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=tol, atol=tol, err_msg=name)


# --- (a) the gradient ------------------------------------------------------------------


def test_partitions_keep_the_sizes_and_shapes(parts):
    assert parts.sizes == tuple(SIZES)
    assert (parts.n, parts.p, parts.d, parts.y_ndim) == (N, P, 1, 1)


def test_gradient_on_the_cluster_equals_the_single_process_gradient(client, kernel_path, kernel, parts, data):
    X, y = data
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        for seed in range(3):
            params = kernel.init_params(P, seed=seed)
            got = objective(params, None)
            assert_grad_close(got, kernel.loss_and_grad(params, X, y), rtol=1e-10)
            again = objective(params, None)
            assert again[0] == got[0]  # summed in partition order: the same bits every time
            assert all(np.array_equal(again[1][name], got[1][name]) for name in got[1])


def test_the_kernel_is_compiled_on_every_worker(client, kernel_path, parts):
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        compiled = client.run(lambda dask_worker, name=objective.plugin: dask_worker.plugins[name].module is not None)
    assert list(compiled.values()) == [True, True]


def test_local_workers_ignore_ctrl_c(client):
    """Ctrl-C goes to the whole process group; the client decides when to stop, the workers go on."""
    pids = client.run(os.getpid)
    for pid in pids.values():
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert client.run(os.getpid) == pids
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3


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


# --- (d) data from files -------------------------------------------------------------


def test_csv_through_dask_dataframe_gives_the_in_memory_gradient(client, kernel_path, kernel, data, tmp_path):
    X, y = data
    path = tmp_path / "data.csv"
    table = np.column_stack([X[:, 0], y, X[:, 1:]])  # the target between the inputs
    np.savetxt(path, table, delimiter=",", fmt="%.17g", header="a,y,b,c", comments="")
    parts = cluster.read_data(client, path, target="y", n_partitions=4)
    try:
        assert len(parts.sizes) > 1 and parts.n == N and (parts.p, parts.d) == (P, 1)
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            params = kernel.init_params(P, seed=1)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, X, y), rtol=1e-10)
    finally:
        parts.release()


def test_npy_memory_mapped_on_the_workers_gives_the_in_memory_gradient(client, kernel_path, kernel, data, tmp_path):
    X, y = data
    path = tmp_path / "data.npy"
    np.save(path, np.column_stack([X[:, :2], y, X[:, 2:]]))  # target: column 2
    parts = cluster.read_data(client, path, target="2", n_partitions=5)
    try:
        assert len(parts.sizes) == 5 and parts.n == N
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            params = kernel.init_params(P, seed=2)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, X, y), rtol=1e-10)
    finally:
        parts.release()


def test_npz_is_sent_from_the_client(client, kernel_path, kernel, data, tmp_path):
    X, y = data
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    parts = cluster.read_data(client, path, n_partitions=2)
    try:
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            params = kernel.init_params(P, seed=3)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, X, y), rtol=1e-10)
    finally:
        parts.release()


def test_standardize_on_the_cluster_matches_the_standardizer(client, kernel_path, kernel, data, parts):
    X, y = data
    scaled, scaler = cluster.standardize(parts)
    try:
        reference = Standardizer.fit(X)
        np.testing.assert_allclose(scaler.mean, reference.mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(scaler.scale, reference.scale, rtol=1e-12)
        with cluster.DaskObjective(client, kernel_path, scaled) as objective:
            params = kernel.init_params(P, seed=0)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, reference.transform(X), y), rtol=1e-10)
    finally:
        scaled.release()


# --- data the cluster refuses ----------------------------------------------------------


def write_csv(path, rows):
    path.write_text("a,b,c,y\n" + "".join(",".join(row) + "\n" for row in rows))
    return path


GOOD_ROW = ["0.5", "1", "2", "3"]


@pytest.mark.parametrize(
    ("cell", "phrase"),
    [("abc", "'abc' is not a number"), ("", "'' is not a number"), ("nan", "contain nan"), ("inf", "contain inf")],
)
def test_a_bad_csv_cell_is_a_one_line_data_error_naming_row_and_column(client, tmp_path, cell, phrase):
    rows = [[str(i), "1", str(i % 3), str(i * 0.5)] for i in range(40)]
    rows[33][1] = cell
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError) as info:
        cluster.read_data(client, path, target="y", n_partitions=3)
    message = str(info.value)
    assert "\n" not in message and phrase in message and "data row 34" in message and "column 'b'" in message, message


@pytest.mark.parametrize("rows", [40, 20000])  # the bad line in dask's sample, read by the client, or beyond it
def test_a_malformed_csv_line_is_a_one_line_data_error(client, tmp_path, rows):
    lines = [[str(i), "1", str(i % 3), str(i * 0.5)] for i in range(rows)]
    lines[-2].append("7")
    path = write_csv(tmp_path / "ragged.csv", lines)
    with pytest.raises(DataError, match="Expected 4 fields") as info:
        cluster.read_data(client, path, target="y", n_partitions=3)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("target", "phrase"),
    [(None, "no target column chosen"), ("z", "target column 'z' not found"), ("b", "the target is constant")],
)
def test_csv_targets_are_checked(client, tmp_path, target, phrase):
    path = write_csv(tmp_path / "t.csv", [["1", "2", "3", str(i)] for i in range(5)])
    with pytest.raises(DataError, match=phrase):
        cluster.read_data(client, path, target=target)


def test_nan_in_memory_is_found_on_the_cluster(client, data):
    X, y = data
    X = X.copy()
    X[150, 1] = np.nan
    with pytest.raises(DataError, match=r"inputs contain nan at row 150 \(0-based\)"):
        cluster.partition(X, y, 4, client=client)


def test_npy_of_the_wrong_kind_is_refused_before_any_work(client, tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.arange(5.0))
    with pytest.raises(DataError, match="expected a 2-D array"):
        cluster.read_data(client, path)


def test_data_that_do_not_fit_the_kernel_are_refused(client, kernel_path, data):
    X, y = data
    parts = cluster.partition(X[:, :2], y, 2, client=client)
    try:
        with pytest.raises(DataError, match="p = 2 input columns, but the kernel was built for p = 3"):
            cluster.DaskObjective(client, kernel_path, parts)
    finally:
        parts.release()


def test_partition_sizes_must_split_the_rows(client, data):
    with pytest.raises(DataError, match="do not split the 240 rows"):
        cluster.partition(*data, [100, 100], client=client)


# --- (e) addresses and mini-batches ------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["localhost:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "kernel.py", ""]
)
def test_a_bad_address_is_a_one_line_user_error(address):
    with pytest.raises(UserError) as info:
        cluster.connect(address)
    message = str(info.value)
    assert "\n" not in message and "tcp://HOST:PORT" in message and repr(address) in message


def test_an_unreachable_scheduler_is_a_user_error():
    with pytest.raises(UserError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        cluster.connect("tcp://127.0.0.1:1", timeout=1)


def test_mini_batches_are_refused(client, kernel_path, kernel, parts):
    with cluster.DaskObjective(client, kernel_path, parts) as objective:
        with pytest.raises(UserError, match="mini-batches are not supported with --dask"):
            objective(kernel.init_params(P), np.arange(10))
    with pytest.raises(UserError, match="mini-batches are not supported with --dask"):
        cluster.train_on_cluster(kernel_path, parts, client, steps=1, batch_size=10)


def test_without_dask_symbp_imports_and_connect_says_how_to_install():
    code = (
        "import sys\n"
        "for name in ('dask', 'dask.dataframe', 'distributed'):\n"
        "    sys.modules[name] = None  # import fails as if not installed\n"
        "import symbp, symbp.cluster\n"
        "try:\n"
        "    symbp.cluster.connect(None)\n"
        "except symbp.UserError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert 'pip install -e ".[dask]"' in out and out.count("\n") == 1


# --- (c) a worker dies in the middle of training ---------------------------------------------


@pytest.mark.slow
def test_training_survives_a_worker_killed_midway(client, kernel_path, kernel, data, undisturbed):
    """SIGKILL the worker holding the first partition after 5 steps: the run ends as if nothing happened."""
    parts = cluster.partition(*data, SIZES, client=client)
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
            params = kernel.init_params(P, seed=0)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, *data), rtol=1e-10)
    finally:
        parts.release()


@pytest.mark.slow
def test_a_step_survives_a_worker_killed_before_its_results_are_gathered(client, kernel_path, kernel, data, undisturbed, monkeypatch):
    """SIGKILL a worker between submitting a step's tasks and gathering them: finished results are lost too."""
    client.wait_for_workers(2, timeout=60)
    parts = cluster.partition(*data, SIZES, client=client)
    gathers = []
    real_gather = client.gather

    def gather_after_a_kill(futures, *args, **kwargs):
        gathers.append(len(gathers))
        if len(gathers) == 8:
            pids = client.run(os.getpid)
            holder = client.who_has([futures[-1]])[futures[-1].key] or list(pids)  # may still be running
            os.kill(pids[holder[0]], signal.SIGKILL)
        return real_gather(futures, *args, **kwargs)

    try:
        monkeypatch.setattr(client, "gather", gather_after_a_kill)
        result = cluster.train_on_cluster(kernel_path, parts, client, steps=20, step_size="armijo")
        monkeypatch.undo()
        assert len(gathers) > 8
        assert_params_close(result.params, undisturbed, tol=0)
        assert_params_close(result.params, local_run(kernel, *data, steps=20, step_size="armijo").params)
    finally:
        monkeypatch.undo()
        parts.release()
        client.wait_for_workers(2, timeout=60)
