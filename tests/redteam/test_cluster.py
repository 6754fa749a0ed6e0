"""Red team, finding 10: Dask = local for every check and message; a lost scheduler or partition ends with a checkpoint.

Real clusters: a private local one (connect(None)) shared by the module, and, for the losses, a scheduler and a
worker started as processes of their own and killed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from symbp.errors import DataError
from symbp.kernel.emit import emit
from symbp.training.checkpoint import load_checkpoint
from tests.helpers import SLOW, derive, skip_without_dask

skip_without_dask()

pytestmark = SLOW


@pytest.fixture(scope="module")
def client():
    from symbp.cluster import connect

    with connect(None) as client:
        yield client


def both_messages(client, path, target=None) -> tuple[str, str]:
    from symbp import cluster
    from symbp.data import load

    with pytest.raises(DataError) as local:
        load(path, target=target)
    with pytest.raises(DataError) as on_cluster:
        cluster.read_data(client, path, target=target, n_partitions=2)
    return str(local.value), str(on_cluster.value)


def test_10_bce_targets_outside_0_1_are_refused_on_dask_as_locally(client, tmp_path):
    from symbp import cluster
    from symbp.kernel.load import load_kernel
    from symbp.training.fit import check_data

    kernel = emit(derive(hidden=2, sigma="tanh", g="sigmoid", loss="bce", inputs=3), tmp_path)
    X = np.random.default_rng(0).standard_normal((30, 3))
    y = np.where(np.arange(30) % 2, 1.0, 0.0)
    y[7] = 3.5
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    with pytest.raises(DataError) as local:
        check_data(load_kernel(kernel), X, y, source=str(tmp_path / "d.npy"))
    parts = cluster.read_data(client, tmp_path / "d.npy", n_partitions=3)
    with pytest.raises(DataError) as on_cluster:
        cluster.DaskObjective(client, kernel, parts)
    assert str(on_cluster.value) == str(local.value) and "outside [0, 1]" in str(local.value)


CSV_ATTACKS = {
    "a row with an extra field": "a,b,y\n1,2,3\n4,5,6,7\n7,8,9\n",
    "1_000": "a,b,y\n1,2,3\n1_000,5,6\n7,8,9\n",
    "Arabic-Indic three": "a,b,y\n1,2,3\n\u0663,5,6\n7,8,9\n",
    "fullwidth one": "a,b,y\n1,2,3\n\uff11,5,6\n7,8,9\n",
    "no-break space": "a,b,y\n1,2,3\n\u00a04,5,6\n7,8,9\n",
}


@pytest.mark.parametrize("text", CSV_ATTACKS.values(), ids=CSV_ATTACKS.keys())
def test_10_csv_cells_and_rows_are_refused_on_dask_with_the_local_message(client, tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    local, on_cluster = both_messages(client, path, "y")
    assert on_cluster == local and "line 3" in local


def test_10_a_byte_order_mark_does_not_hide_the_target_on_dask(client, tmp_path):
    from symbp import cluster
    from symbp.data import load

    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfy,a,b\n" + b"".join(f"{i},{i % 3},{i % 5}\n".encode() for i in range(20)))
    parts = cluster.read_data(client, path, target="y", n_partitions=2)
    assert (parts.n, parts.p) == (load(path, target="y").n, 2)
    parts.release()


# --- a scheduler, a worker: processes of their own, killed ------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*module_and_args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *module_and_args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def external(tmp_path):
    """A scheduler and one worker on 127.0.0.1, as processes; yields (address, scheduler, [workers])."""
    port = free_port()
    scheduler = start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", cwd=tmp_path)
    workers = []
    address = f"tcp://127.0.0.1:{port}"
    time.sleep(2)
    workers.append(start("distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard", cwd=tmp_path))
    time.sleep(3)
    yield address, scheduler, workers
    for process in (scheduler, *workers):
        process.kill()
        process.wait()


def training(folder, address: str, data: str) -> subprocess.Popen:
    emit(derive(hidden=2, sigma="tanh", inputs=3), folder, name="kernel")
    return subprocess.Popen(
        [sys.executable, "-m", "symbp.cli", "train", "kernel.py", "--data", data, "--dask", address, "--steps", "10000000",
         "--step-size", "0.001", "-o", "r", "--quiet"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def npy_data(folder) -> None:
    X = np.random.default_rng(0).standard_normal((200, 3))
    np.save(folder / "d.npy", np.column_stack([X, np.sin(X[:, 0])]))


def assert_kept(process: subprocess.Popen, folder, fragment: str) -> None:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 75, (process.returncode, err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "kept in the checkpoint r.checkpoint.npz" in lines[0], err[-2000:]
    assert load_checkpoint(folder / "r.checkpoint.npz").state.step > 0 and not (folder / "r.params.npz").exists()


def test_10_a_scheduler_killed_mid_run_ends_with_a_checkpoint_and_its_own_status(tmp_path, external):
    address, scheduler, _ = external
    npy_data(tmp_path)
    process = training(tmp_path, address, "d.npy")
    time.sleep(8)
    assert process.poll() is None, process.communicate()
    scheduler.kill()
    assert_kept(process, tmp_path, "the Dask cluster failed")


def test_10_a_partition_rebuilt_where_the_file_cannot_be_read_ends_with_a_checkpoint(tmp_path, external):
    address, _, workers = external
    npy_data(tmp_path)
    process = training(tmp_path, address, "d.npy")
    time.sleep(8)
    assert process.poll() is None, process.communicate()
    (tmp_path / "d.npy").unlink()  # the new worker will not find it
    # The first worker dies before the new one joins, so its partitions cannot have been copied to the new
    # one (Dask copies a partition to a worker that is given a step's task): they must be read again there.
    workers[0].kill()
    workers.append(start("distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard", cwd=tmp_path))
    assert_kept(process, tmp_path, "the Dask cluster failed")


def test_10_the_last_worker_lost_ends_with_a_checkpoint_after_the_grace(tmp_path, external):
    from symbp.cluster.objective import NO_WORKER_GRACE

    address, _, workers = external
    npy_data(tmp_path)
    process = training(tmp_path, address, "d.npy")
    time.sleep(8)
    assert process.poll() is None, process.communicate()
    workers[0].kill()  # no worker is left: Dask would wait for one for ever
    started = time.monotonic()
    assert_kept(process, tmp_path, f"no worker left for {NO_WORKER_GRACE:g} s")
    assert NO_WORKER_GRACE <= time.monotonic() - started < NO_WORKER_GRACE + 60
