"""Tests for symbp/cluster/partitions.py: data split and read on the cluster, and the data it refuses.

Reading on the workers must give the data of reading in this process: the
same gradient, and for a bad header or target the same message as symbp.data.load.
"""

from __future__ import annotations

import numpy as np
import pytest

from symbp import cluster
from symbp.data import load
from symbp.errors import DataError
from tests.helpers import assert_grad_close, skip_without_dask

skip_without_dask()


# --- arrays in memory -----------------------------------------------------------------


def test_partitions_keep_the_sizes_and_shapes(parts, sizes, data):
    X, y = data
    assert parts.sizes == tuple(sizes)
    assert (parts.n, parts.p, parts.d, parts.y_ndim) == (len(y), X.shape[1], 1, 1)


# --- data from files -------------------------------------------------------------------


def test_csv_read_in_byte_blocks_gives_the_in_memory_gradient(client, kernel_path, kernel, data, tmp_path):
    X, y = data
    path = tmp_path / "data.csv"
    table = np.column_stack([X[:, 0], y, X[:, 1:]])  # the target between the inputs
    np.savetxt(path, table, delimiter=",", fmt="%.17g", header="a,y,b,c", comments="")
    parts = cluster.read_data(client, path, target="y", n_partitions=4)
    try:
        assert len(parts.sizes) > 1 and parts.n == len(y) and (parts.p, parts.d) == (kernel.P, 1)
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            params = kernel.init_params(kernel.P, seed=1)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, X, y), rtol=1e-10)
    finally:
        parts.release()


def test_npy_memory_mapped_on_the_workers_gives_the_in_memory_gradient(client, kernel_path, kernel, data, tmp_path):
    X, y = data
    path = tmp_path / "data.npy"
    np.save(path, np.column_stack([X[:, :2], y, X[:, 2:]]))  # target: column 2
    parts = cluster.read_data(client, path, target="2", n_partitions=5)
    try:
        assert len(parts.sizes) == 5 and parts.n == len(y)
        with cluster.DaskObjective(client, kernel_path, parts) as objective:
            params = kernel.init_params(kernel.P, seed=2)
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
            params = kernel.init_params(kernel.P, seed=3)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, X, y), rtol=1e-10)
    finally:
        parts.release()


# --- where the partitions live, and in what order -------------------------------------------


class _Threads:
    """A client that has only worker threads: partitions.py asks it for nothing else here."""

    def __init__(self, nthreads):
        self._nthreads = nthreads

    def nthreads(self):
        return self._nthreads


def test_the_default_count_is_an_equal_number_per_worker_thread():
    from symbp.cluster.partitions import PARTITION_BYTES, _default_partitions

    two = _Threads({"tls://a:1": 1, "tls://b:2": 1})
    assert _default_partitions(two, 10) == 2
    assert _default_partitions(two, int(2.5 * PARTITION_BYTES)) == 4  # 3 would leave one worker doing two
    assert _default_partitions(_Threads({"tls://a:1": 3}), 4 * PARTITION_BYTES) == 6


def test_partitions_go_to_the_worker_threads_in_turn_and_may_move_if_one_dies():
    from symbp.cluster.partitions import _placements

    places = _placements(_Threads({"tls://b:2": 2, "tls://a:1": 1}), 6)
    assert [place["workers"] for place in places] == [["tls://a:1"], ["tls://b:2"], ["tls://b:2"]] * 2
    assert all(place["allow_other_workers"] for place in places)
    assert _placements(_Threads({}), 2) == [{}, {}]  # no worker yet: Dask places them


def _holders_and_orders(client, parts):
    where = client.who_has(list(parts.futures))
    holders = [where[future.key][0] for future in parts.futures]
    orders = client.gather(client.map(lambda part: part[0].flags.c_contiguous, parts.futures, pure=False))
    return holders, orders


def test_npy_read_by_default_is_balanced_over_the_workers_in_c_order(client, data, tmp_path, monkeypatch):
    from symbp.cluster import partitions

    X, y = data
    path = tmp_path / "data.npy"
    np.save(path, np.asfortranarray(np.column_stack([X, y])))  # a Fortran-ordered file: rows in C order all the same
    monkeypatch.setattr(partitions, "PARTITION_BYTES", (X.size + y.size) * 8 // 3 + 1)  # 3 partitions' worth
    parts = cluster.read_data(client, path)
    try:
        holders, orders = _holders_and_orders(client, parts)
        assert len(parts.sizes) == 4 and parts.n == len(y)
        assert sorted(holders.count(worker) for worker in set(holders)) == [2, 2]
        assert all(orders)
        # The placement is lifted once they are made: one lost with its worker may be rebuilt on any worker.
        keys = [future.key for future in parts.futures]
        restrictions = client.run_on_scheduler(lambda dask_scheduler: [dask_scheduler.tasks[key].worker_restrictions for key in keys])
        assert restrictions == [None] * 4
    finally:
        parts.release()


def test_arrays_in_fortran_order_reach_the_workers_in_c_order(client, data):
    X, y = data
    parts = cluster.partition(np.asfortranarray(X), y, 2, client=client)
    try:
        holders, orders = _holders_and_orders(client, parts)
        assert len(set(holders)) == 2 and all(orders)
    finally:
        parts.release()


@pytest.mark.slow
def test_training_on_npy_with_dask_needs_no_pandas(tmp_path, data):
    """The [dask] extra (dask, distributed, cryptography) is all --dask needs for .npy data: pandas is hidden here."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    hidden = tmp_path / "hidden" / "pandas"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("pandas is hidden by this test")\n')
    X, y = data
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    kernel = ROOT / "generated" / "tanh_identity_m3.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden.parent), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", "import symbp.cli, sys; sys.exit(symbp.cli.main(sys.argv[1:]))", "train", str(kernel),
         "--data", str(tmp_path / "data.npy"), "--dask", "--steps", "3", "-o", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run.params.npz").is_file()


# --- data the cluster refuses ----------------------------------------------------------


def write_csv(path, rows):
    path.write_text("a,b,c,y\n" + "".join(",".join(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("cell", "phrase"),
    [("abc", "non-numeric cell 'abc'"), ("", "empty cell"), ("nan", "cell 'nan' is not a finite number"), ("inf", "cell 'inf' is not"),
     ("1_000", "non-numeric cell '1_000'"), ("\u0663", "non-numeric cell"), ("\uff11", "non-numeric cell")],
)
def test_a_bad_csv_cell_gets_the_message_of_load_naming_line_and_column(client, tmp_path, cell, phrase):
    rows = [[str(i), "1", str(i % 3), str(i * 0.5)] for i in range(40)]
    rows[33][1] = cell
    path = write_csv(tmp_path / "bad.csv", rows)
    local, on_cluster = both_messages(client, path, "y", n_partitions=3)
    assert on_cluster == local and phrase in local and "line 35, column 2 'b'" in local, local


@pytest.mark.parametrize("rows", [40, 20000])
def test_a_row_with_another_number_of_fields_gets_the_message_of_load(client, tmp_path, rows):
    lines = [[str(i), "1", str(i % 3), str(i * 0.5)] for i in range(rows)]
    lines[-2].append("7")
    path = write_csv(tmp_path / "ragged.csv", lines)
    local, on_cluster = both_messages(client, path, "y", n_partitions=3)
    assert on_cluster == local and f"line {rows}: found 5 fields, expected 4" in local


def test_a_byte_order_mark_hides_no_target(client, tmp_path, kernel):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffy,a,b,c\n".encode() + "".join(f"{i * 0.5},{i},1,{i % 3}\n" for i in range(30)).encode())
    parts = cluster.read_data(client, path, target="y", n_partitions=2)
    try:
        local = load(path, target="y")
        assert parts.n == local.n and parts.p == local.p == 3
    finally:
        parts.release()


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


def test_partition_sizes_must_split_the_rows(client, data):
    with pytest.raises(DataError, match="do not split the 240 rows"):
        cluster.partition(*data, [100, 100], client=client)


# --- the same messages as the local reader -------------------------------------------------


def both_messages(client, path, target, **options) -> tuple[str, str]:
    """The DataError messages of symbp.data.load and of cluster.read_data for the same file and target."""
    with pytest.raises(DataError) as local:
        load(path, target=target)
    with pytest.raises(DataError) as on_cluster:
        cluster.read_data(client, path, target=target, **options)
    return str(local.value), str(on_cluster.value)


@pytest.mark.parametrize(
    ("text", "target", "phrase"),
    [
        ("a,y,a\n1,2,3\n2,3,4\n", "y", "duplicate column name 'a' (also column 1)"),
        ("\na,,y\n1,2,3\n2,3,4\n", "y", "line 2, column 2: empty column name"),
        ("a;b;y\n1;2;3\n2;3;4\n", "y", "symbp reads comma-separated files"),
        ("a,b,y\n1,2,3\n2,3,4\n", None, "no target column chosen"),
        ("a,b,y\n1,2,3\n2,3,4\n", "z", "target column 'z' not found; available columns are 'a', 'b', 'y'"),
        ("a,b,y\n1,2,3\n2,3,4\n", [], "the list of target columns is empty"),
        ("a,b,y\n1,2,3\n2,3,4\n", ["y", "y"], "target column 'y' is named twice"),
    ],
)
def test_csv_header_and_target_messages_are_those_of_load(client, tmp_path, text, target, phrase):
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    local, on_cluster = both_messages(client, path, target)
    assert on_cluster == local and phrase in local


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"a,b,y\n1,2,3\n4,5,6\r7,8,9\n1,2,4\n", "line 3: malformed CSV"),  # a lone carriage return
        (b"a,b,y\n1,2,3\n  \n4,5,6,7\n", "line 4: found 4 fields"),  # a line of spaces is blank
        (b"a,b,y\n1,2,3\n4,\xff,6\n", "is not UTF-8 text (invalid start byte)"),
        (b"a,b,y\n1,2,3\n4,\x0b5,6\n", "line 3, column 2 'b': non-numeric cell"),  # a space of Python's, not of the grammar
    ],
    ids=["lone CR", "line of spaces", "not UTF-8", "vertical tab"],
)
def test_csv_rows_get_the_same_answer_from_load_and_the_cluster(client, tmp_path, data, phrase):
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    local, on_cluster = both_messages(client, path, "y", n_partitions=2)
    assert on_cluster == local and phrase in local, local


def test_quoted_cells_and_blank_lines_are_read_alike_by_load_and_the_cluster(client, tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b,y\r\n\r\n" + b"".join(f'"{i}",{i % 3}, {i * 0.5}\r\n\r\n'.encode() for i in range(50)))
    parts = cluster.read_data(client, path, target="y", n_partitions=3)
    try:
        local = load(path, target="y")
        gathered = client.gather(list(parts.futures))
        np.testing.assert_array_equal(np.concatenate([X for X, _ in gathered]), local.X)
        np.testing.assert_array_equal(np.concatenate([y for _, y in gathered]), local.y)
    finally:
        parts.release()


@pytest.mark.parametrize(
    ("array", "target", "phrase"),
    [
        (np.arange(12.0).reshape(4, 3), "y", "target 'y' is not a column index"),
        (np.arange(12.0).reshape(4, 3), "3", "target column 3 is out of range"),
        (np.arange(12.0).reshape(4, 3), ["0", "0"], "target column 0 is named twice"),
        (np.arange(4.0).reshape(4, 1), None, "no feature columns left after taking target column(s) [0] of 1"),
        (np.array([["a", "b"], ["c", "d"]]), None, "the array has dtype <U1; expected real numbers"),
    ],
)
def test_npy_target_and_dtype_messages_are_those_of_load(client, tmp_path, array, target, phrase):
    path = tmp_path / "d.npy"
    np.save(path, array)
    local, on_cluster = both_messages(client, path, target)
    assert on_cluster == local and phrase in local


@pytest.mark.parametrize("content", ["npz", "junk"])
def test_npy_files_that_are_not_npy_get_the_message_of_load(client, tmp_path, content):
    path = tmp_path / "d.npy"
    if content == "npz":
        np.savez(tmp_path / "a.npz", X=np.zeros((2, 2)), y=np.arange(2.0))
        path.write_bytes((tmp_path / "a.npz").read_bytes())
    else:
        path.write_text("not a numpy file\n")
    local, on_cluster = both_messages(client, path, None)
    assert on_cluster == local
