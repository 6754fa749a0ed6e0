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
    frame_to_arrays,
    kernel_plugin,
    pack,
    read_npy_rows,
    scaled,
    squared_deviations,
    summarize,
)
from symbp.data import Standardizer
from tests.helpers import skip_without_dask

skip_without_dask()

import pandas  # noqa: E402  (installed with dask[dataframe])


def text_frame(**columns: list[str]) -> pandas.DataFrame:
    """A block as read_data reads it: every cell as text."""
    return pandas.DataFrame({name: pandas.Series(cells, dtype=object) for name, cells in columns.items()})


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


def test_frame_to_arrays_converts_text_cells():
    frame = text_frame(a=["1", " 2.5", "1e3"], y=["0", "-1", "nan"], b=["4", "5", "6"])
    X, y = frame_to_arrays(frame, ["a", "b"], ["y"], True)
    np.testing.assert_array_equal(X, [[1, 4], [2.5, 5], [1000, 6]])
    assert y.shape == (3,) and np.isnan(y[2])  # "nan" is a number here; summarize finds it not finite
    _, Y = frame_to_arrays(frame, ["a"], ["y", "b"], False)
    assert Y.shape == (3, 2)


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ({"a": ["1", "x"], "y": ["1", "2"]}, Problem(ProblemKind.NOT_A_NUMBER, "inputs", 1, 0, "x")),
        ({"a": ["1", "2"], "y": ["", "2"]}, Problem(ProblemKind.NOT_A_NUMBER, "targets", 0, 0, "")),
    ],
)
def test_frame_to_arrays_reports_the_first_cell_that_is_not_a_number(columns, problem):
    assert frame_to_arrays(text_frame(**columns), ["a"], ["y"], True) == problem


def test_frame_to_arrays_of_an_empty_block_has_the_columns():
    X, Y = frame_to_arrays(text_frame(a=[], b=[], y=[], z=[]), ["a", "b"], ["y", "z"], False)
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
    assert callable(plugin.module.loss_and_grad)
