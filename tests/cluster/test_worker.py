"""Tests for symbp/cluster/worker.py: the functions Dask runs on workers, called here in this process.

They are plain functions of NumPy values, so they are tested without a cluster;
tests/cluster/test_objective.py and test_partitions.py run them on one.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from symbp.cluster.worker import (
    Problem,
    ProblemKind,
    column_sums,
    compile_kernel,
    kernel_plugin,
    pack,
    read_csv_rows,
    read_npy_rows,
    scaled,
    squared_deviations,
    summarize,
    warm_up,
)
from symbp.data import Standardizer
from tests.helpers import skip_without_dask

skip_without_dask()


# --- making partitions ---------------------------------------------------------------------


def test_pack_is_the_rows_it_was_given():
    X, y = np.zeros((2, 3)), np.arange(2.0)
    assert pack(X, y) == (X, y)


def test_read_npy_rows_reads_one_row_range_and_the_chosen_columns(tmp_path):
    path = tmp_path / "d.npy"
    table = np.arange(20, dtype=np.int32).reshape(5, 4)
    np.save(path, table)
    X, y = read_npy_rows(str(path), 1, 4, [0, 3], [2], True)
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(X, table[1:4, [0, 3]])
    np.testing.assert_array_equal(y, table[1:4, 2])
    _, Y = read_npy_rows(str(path), 0, 2, [0], [3, 1], False)
    np.testing.assert_array_equal(Y, table[0:2, [3, 1]])


def test_read_npy_rows_reports_an_unreadable_file(tmp_path):
    path = tmp_path / "gone.npy"
    problem = read_npy_rows(str(path), 0, 1, [0], [1], True)
    assert isinstance(problem, Problem) and problem.kind is ProblemKind.UNREADABLE
    assert "gone.npy" in problem.text and "\n" not in problem.text


def test_read_npy_rows_reports_the_first_value_that_is_not_finite_in_file_columns(tmp_path):
    path = tmp_path / "d.npy"
    table = np.zeros((4, 3))
    table[2, 2] = np.nan
    np.save(path, table)
    assert read_npy_rows(str(path), 1, 4, [0, 1], [2], True) == Problem(ProblemKind.NOT_FINITE, "the array", 1, 2, "nan")


def csv_file(tmp_path, text: str):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_read_csv_rows_reads_the_lines_that_start_in_its_bytes(tmp_path):
    text = "a,y,b\n1,0,4\n 2.5,-1,5\n\n1e3,7,6\n"
    path, start = csv_file(tmp_path, text), len("a,y,b\n")
    X, y = read_csv_rows(path, start, len(text), 3, [0, 2], [1], True)
    np.testing.assert_array_equal(X, [[1, 4], [2.5, 5], [1000, 6]])
    np.testing.assert_array_equal(y, [0, -1, 7])
    middle = start + 3  # inside the first data line: that line belongs to the block before
    first, second = read_csv_rows(path, start, middle, 3, [0, 2], [1], True), read_csv_rows(path, middle, len(text), 3, [0, 2], [1], True)
    assert first[0].shape == (1, 2) and second[0].shape == (2, 2)
    _, Y = read_csv_rows(path, start, len(text), 3, [0], [1, 2], False)
    assert Y.shape == (3, 2)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1,x\n", Problem(ProblemKind.NOT_A_NUMBER, row=0, column=1, text="x", line=1)),
        ("1,2\n3,1_000\n", Problem(ProblemKind.NOT_A_NUMBER, row=1, column=1, text="1_000", line=2)),
        ("1,2\n\n3,4,5\n", Problem(ProblemKind.FIELDS, row=1, column=3, line=3)),
        ("1,inf\n", Problem(ProblemKind.NOT_FINITE, row=0, column=1, text="inf", line=1)),
        ("1,2\n1,\x002\n", Problem(ProblemKind.NOT_A_NUMBER, row=1, column=1, text="\x002", line=2)),
    ],
)
def test_read_csv_rows_reports_the_first_problem_as_the_local_reader_finds_it(tmp_path, text, problem):
    path = csv_file(tmp_path, "a,y\n" + text)
    assert read_csv_rows(path, 4, 4 + len(text.encode()), 2, [0], [1], True) == problem


def test_read_csv_rows_of_an_empty_block_has_the_columns(tmp_path):
    path = csv_file(tmp_path, "a,b,y,z\n")
    X, Y = read_csv_rows(path, 8, 8, 4, [0, 1], [2, 3], False)
    assert X.shape == (0, 2) and Y.shape == (0, 2)


# --- summaries ----------------------------------------------------------------------------


def test_summarize_gives_rows_and_the_target_range():
    summary = summarize((np.zeros((3, 2)), np.array([[1.0, 5.0], [3.0, 4.0], [2.0, 6.0]])))
    assert (summary.n, summary.d, summary.problem) == (3, 2, None)
    np.testing.assert_array_equal(summary.y_min, [1.0, 4.0])
    np.testing.assert_array_equal(summary.y_max, [3.0, 6.0])
    assert summarize((np.zeros((2, 1)), np.arange(2.0))).d == 1


def test_summarize_finds_the_first_value_that_is_not_finite():
    X = np.zeros((3, 2))
    X[2, 1] = -np.inf
    summary = summarize((X, np.array([0.0, np.nan, 1.0])))
    assert summary.n == 0 and summary.problem == Problem(ProblemKind.NOT_FINITE, "inputs", 2, 1, "-inf")
    summary = summarize((np.zeros((3, 2)), np.array([0.0, np.nan, 1.0])))
    assert summary.problem == Problem(ProblemKind.NOT_FINITE, "targets", 1, 0, "nan")


def test_summarize_passes_a_problem_on():
    problem = Problem(ProblemKind.UNREADABLE, text="no such file")
    summary = summarize(problem)
    assert summary.n == 0 and summary.problem is problem


# --- standardising --------------------------------------------------------------------------


def test_the_partial_sums_give_the_standardizer():
    rng = np.random.default_rng(3)
    X = rng.normal(2.0, 3.0, size=(30, 3))
    X[:, 2] = 0.1  # a constant column
    parts = [(X[:10], None), (X[10:11], None), (X[11:], None)]
    sums = [column_sums(part) for part in parts]
    mean = np.sum([s for s, _, _ in sums], axis=0) / len(X)
    squares = np.sum([squared_deviations(part, mean=mean) for part in parts], axis=0)
    reference = Standardizer.fit(X)
    np.testing.assert_allclose(mean, reference.mean, rtol=1e-13)
    np.testing.assert_allclose(np.sqrt(squares[:2] / len(X)), reference.scale[:2], rtol=1e-13)
    assert np.min([lo for _, lo, _ in sums], axis=0)[2] == np.max([hi for _, _, hi in sums], axis=0)[2]
    y = np.arange(10.0)
    Z, same_y = scaled((X[:10], y), mean=reference.mean, scale=reference.scale)
    np.testing.assert_allclose(Z, reference.transform(X[:10]))
    assert same_y is y


# --- the kernel ----------------------------------------------------------------------------


def test_compile_kernel_checks_the_digest_and_gives_loss_and_grad(kernel_path, kernel, data):
    source = kernel_path.read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    module = compile_kernel(digest, source)
    assert module.THREADS == 1  # the worker's task thread only: the partitions already fill the workers' threads
    params = kernel.init_params(kernel.P, seed=0)
    loss, grad = module.loss_and_grad(params, *data)
    loss0, grad0 = kernel.loss_and_grad(params, *data)
    assert loss == loss0 and all(np.array_equal(grad[name], grad0[name]) for name in grad0)
    with pytest.raises(RuntimeError, match="does not match its sha256"):
        compile_kernel(digest, source + "\n")


def test_the_kernel_plugin_compiles_on_setup(kernel_path):
    source = kernel_path.read_text(encoding="utf-8")
    plugin = kernel_plugin(hashlib.sha256(source.encode("utf-8")).hexdigest(), source)
    assert plugin.module is None
    plugin.setup(worker=None)
    try:
        assert callable(plugin.module.loss_and_grad)
    finally:
        plugin.teardown(worker=None)  # the heap kept for the kernel (training/heap.py) is handed back
    assert not plugin.heap_kept


def test_a_partition_that_could_not_be_read_is_not_warmed_up():
    assert warm_up(Problem(ProblemKind.UNREADABLE, text="gone"), plugin="any") == 0


def test_an_unaligned_partition_is_copied_once_aligned_and_dropped_with_it():
    """A partition copied between workers arrives at any offset of a network frame: unaligned, NumPy's
    matrix product would copy every block of X on every step."""
    import gc

    from symbp.cluster import worker as module

    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((50, 3))
    frame = bytearray(X0.nbytes + 1)
    X = np.frombuffer(frame, dtype=np.float64, offset=1, count=X0.size).reshape(X0.shape)
    X[...] = X0
    y = rng.standard_normal(50)
    assert not X.flags.aligned
    first = module.aligned((X, y))
    assert first[0].flags.aligned and np.array_equal(first[0], X0) and np.array_equal(first[1], y)
    assert module.aligned((X, y)) is first  # made once, on the first step
    plain = (X0, y)
    assert module.aligned(plain) is plain  # an aligned partition is used as it is
    key = id(X)
    del X, first
    gc.collect()
    assert key not in module._ALIGNED  # dropped with the partition
