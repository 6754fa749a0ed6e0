"""Tests for symbp/data/read_numpy.py: .npy and .npz files read through load, and their one-line error messages."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data import load
from symbp.data.read_numpy import check_real_numbers, open_numpy_file
from symbp.errors import DataError
from tests.helpers import assert_load_fails, write_text


# --- round trips ----------------------------------------------------------------------


def test_npy_round_trip_default_last_column(tmp_path, table):
    path = tmp_path / "d.npy"
    np.save(path, table)
    ds = load(path)
    np.testing.assert_array_equal(ds.X, table[:, :3])
    np.testing.assert_array_equal(ds.y, table[:, 3])
    assert ds.feature_names == ("x1", "x2", "x3") and ds.target_names == ("y",)


def test_npy_target_index_and_integer_dtype(tmp_path):
    path = tmp_path / "d.npy"
    array = np.arange(12).reshape(4, 3)
    np.save(path, array)
    ds = load(path, target="0")
    assert ds.X.dtype == np.float64
    np.testing.assert_array_equal(ds.X, array[:, 1:])
    np.testing.assert_array_equal(ds.y, array[:, 0])


def test_npy_multi_target(tmp_path, table):
    path = tmp_path / "d.npy"
    np.save(path, table)
    ds = load(path, target=["1", "3"])
    assert ds.y.shape == (20, 2)
    np.testing.assert_array_equal(ds.y, table[:, [1, 3]])
    np.testing.assert_array_equal(ds.X, table[:, [0, 2]])
    assert ds.feature_names == ("x1", "x2") and ds.target_names == ("y1", "y2")


@pytest.mark.parametrize("y_shape", [(20,), (20, 2)])
def test_npz_round_trip(tmp_path, table, y_shape):
    path = tmp_path / "d.npz"
    y = table[:, 3] if len(y_shape) == 1 else table[:, 2:]
    np.savez(path, X=table[:, :2], y=y)
    ds = load(path, target="ignored")
    np.testing.assert_array_equal(ds.X, table[:, :2])
    np.testing.assert_array_equal(ds.y, y)
    assert ds.y.shape == y_shape
    assert ds.feature_names == ("x1", "x2")


# --- errors: .npy and .npz ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_npy_wrong_dimensionality(tmp_path, shape):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(float(np.prod(shape))).reshape(shape))
    assert_load_fails(path, f"{len(shape)}-D", "expected a 2-D array")


def test_npy_no_rows(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((0, 3)))
    assert_load_fails(path, "no rows")


def test_npy_non_finite(tmp_path):
    path = tmp_path / "d.npy"
    array = np.arange(12.0).reshape(4, 3)
    array[2, 1] = np.nan
    np.save(path, array)
    assert_load_fails(path, "row 2, column 1", "nan", "finite")


def test_npy_bad_target(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    assert_load_fails(path, "column index", target="y")
    assert_load_fails(path, "out of range", "3 columns", target="3")


def test_npy_constant_target_and_no_features(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.column_stack([np.arange(4.0), np.ones(4)]))
    assert_load_fails(path, "constant", "cannot learn")
    single = tmp_path / "s.npy"
    np.save(single, np.arange(4.0).reshape(4, 1))
    assert_load_fails(single, "no feature columns")


def test_npy_not_numeric_and_not_npy(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    assert_load_fails(path, "dtype", "expected real numbers")
    junk = write_text(tmp_path / "junk.npy", "not a numpy file\n")
    assert_load_fails(junk, "cannot read")


def test_npz_missing_arrays_listed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((3, 2)), y=np.arange(3.0))
    assert_load_fails(path, "'X'", "'inputs', 'y'")


def test_npz_wrong_dimensionality_and_rows(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros(3), y=np.arange(3.0))
    assert_load_fails(path, "'X' is 1-D")
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros((3, 1, 1)))
    assert_load_fails(path, "'y' is 3-D")
    np.savez(path, X=np.zeros((3, 2)), y=np.arange(4.0))
    assert_load_fails(path, "3 rows", "4")


def test_npz_non_finite_and_constant(tmp_path):
    path = tmp_path / "d.npz"
    X = np.arange(6.0).reshape(3, 2)
    X[1, 0] = np.inf
    np.savez(path, X=X, y=np.arange(3.0))
    assert_load_fails(path, "array 'X'", "row 1, column 0", "inf")
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.array([1.0, np.nan, 2.0]))
    assert_load_fails(path, "array 'y'", "row 1", "nan")
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.full(3, 2.5))
    assert_load_fails(path, "constant", "cannot learn")


def test_npz_holding_npy_and_vice_versa(tmp_path):
    npz = tmp_path / "a.npz"
    np.save(tmp_path / "tmp.npy", np.zeros((2, 2)))
    npz.write_bytes((tmp_path / "tmp.npy").read_bytes())
    assert_load_fails(npz, "rename it to .npy")
    npy = tmp_path / "b.npy"
    np.savez(tmp_path / "tmp2.npz", X=np.zeros((2, 2)), y=np.arange(2.0))
    npy.write_bytes((tmp_path / "tmp2.npz").read_bytes())
    assert_load_fails(npy, "rename it to .npz")


# --- the helpers the cluster's reader shares ---------------------------------------------------


def test_open_numpy_file_maps_an_array_and_names_an_unreadable_file(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(6.0).reshape(3, 2))
    mapped = open_numpy_file(path, "d.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.shape == (3, 2)
    del mapped
    junk = write_text(tmp_path / "junk.npy", "not a numpy file\n")
    with pytest.raises(DataError) as info:
        open_numpy_file(junk, "data/junk.npy")
    message = str(info.value)
    assert message.startswith("data/junk.npy: cannot read as .npy (") and "\n" not in message
    assert message.endswith("); expected a 2-D numeric array saved with numpy.save")


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64", "float32", "float64"])
def test_check_real_numbers_accepts_booleans_integers_and_floats(dtype):
    check_real_numbers(np.dtype(dtype), "d.npy", "the array")


@pytest.mark.parametrize("dtype", ["complex128", "<U3", "object", "datetime64[s]"])
def test_check_real_numbers_refuses_the_rest(dtype):
    with pytest.raises(DataError) as info:
        check_real_numbers(np.dtype(dtype), "d.npz", "array 'X'")
    assert str(info.value) == f"d.npz: array 'X' has dtype {np.dtype(dtype)}; expected real numbers (integer or float)"
