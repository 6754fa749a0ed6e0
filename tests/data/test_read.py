"""Tests for symbp/data.py: loaders, their error messages, the shipped data, Standardizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbp.data import Dataset, Standardizer, diabetes, load
from symbp.errors import DataError

DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def raises(path: Path, *fragments: str, target=None) -> str:
    """Load must raise a one-line DataError naming the file and containing each fragment."""
    with pytest.raises(DataError) as info:
        load(path, target=target)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --- the shipped diabetes data --------------------------------------------------------


def test_diabetes_shape_names_and_mean():
    ds = diabetes()
    assert isinstance(ds, Dataset)
    assert ds.X.shape == (442, 10) and ds.y.shape == (442,)
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.feature_names == DIABETES_FEATURES
    assert ds.target_names == ("y",)
    assert ds.y.mean() == pytest.approx(152.133, abs=1e-3)
    # First row as in the paper's data file.
    np.testing.assert_array_equal(ds.X[0], [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87])
    assert ds.y[0] == 151


def test_diabetes_file_format():
    text = (Path(__file__).parents[2] / "symbp" / "data" / "diabetes.csv").read_bytes().decode("ascii")
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert lines[0] == "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,y"
    assert len(lines) == 443
    assert all(len(line.split(",")) == 11 for line in lines)
    cells = [cell for line in lines[1:] for cell in line.split(",")]
    assert not any(cell.endswith(".0") or "e" in cell.lower() for cell in cells)


def test_diabetes_loads_through_load():
    path = Path(__file__).parents[2] / "symbp" / "data" / "diabetes.csv"
    ds = load(path, target="y")
    np.testing.assert_array_equal(ds.X, diabetes().X)


# --- round trips ----------------------------------------------------------------------


@pytest.fixture
def table() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4))


def test_csv_round_trip(tmp_path, table):
    path = tmp_path / "d.csv"
    np.savetxt(path, table, delimiter=",", header="a,b,c,t", comments="", fmt="%.17g")
    ds = load(path, target="t")
    np.testing.assert_array_equal(ds.X, table[:, :3])
    np.testing.assert_array_equal(ds.y, table[:, 3])
    assert ds.feature_names == ("a", "b", "c") and ds.target_names == ("t",)
    assert ds.source == str(path)


def test_csv_target_in_the_middle_and_str_path(tmp_path, table):
    path = tmp_path / "d.csv"
    np.savetxt(path, table, delimiter=",", header="a,b,c,d", comments="", fmt="%.17g")
    ds = load(str(path), target="b")
    np.testing.assert_array_equal(ds.X, table[:, [0, 2, 3]])
    np.testing.assert_array_equal(ds.y, table[:, 1])
    assert ds.feature_names == ("a", "c", "d") and ds.source == str(path)


def test_csv_multi_target(tmp_path, table):
    path = tmp_path / "d.csv"
    np.savetxt(path, table, delimiter=",", header="a,b,c,d", comments="", fmt="%.17g")
    ds = load(path, target=["d", "a"])
    assert ds.y.shape == (20, 2)
    np.testing.assert_array_equal(ds.y, table[:, [3, 0]])
    np.testing.assert_array_equal(ds.X, table[:, [1, 2]])
    assert ds.target_names == ("d", "a") and ds.feature_names == ("b", "c")


def test_csv_tolerates_spaces_bom_crlf_and_blank_lines(tmp_path):
    path = write(tmp_path / "d.csv", "\ufeff a , y \r\n1, 2\r\n\r\n3 ,5\r\n\r\n")
    ds = load(path, target="y")
    np.testing.assert_array_equal(ds.X, [[1], [3]])
    np.testing.assert_array_equal(ds.y, [2, 5])
    assert ds.feature_names == ("a",)


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


# --- errors: any format ---------------------------------------------------------------


def test_missing_file(tmp_path):
    raises(tmp_path / "nothere.csv", "no such file")


@pytest.mark.parametrize("name", ["d.txt", "d.json", "d"])
def test_unknown_suffix_names_allowed(tmp_path, name):
    raises(write(tmp_path / name, "a,b\n1,2\n"), ".csv", ".npy", ".npz")


@pytest.mark.parametrize("name", ["d.csv", "d.npy", "d.npz"])
def test_empty_file(tmp_path, name):
    raises(write(tmp_path / name, ""), "empty")


# --- errors: CSV ----------------------------------------------------------------------


def test_csv_blank_lines_only(tmp_path):
    raises(write(tmp_path / "d.csv", "\n\n"), "blank")


def test_csv_header_only(tmp_path):
    raises(write(tmp_path / "d.csv", "a,y\n"), "line 1", "no data rows", target="y")


def test_csv_duplicate_column_name(tmp_path):
    raises(write(tmp_path / "d.csv", "a,y,a\n1,2,3\n"), "line 1", "column 3", "'a'", "duplicate", target="y")


def test_csv_empty_column_name(tmp_path):
    raises(write(tmp_path / "d.csv", "a,,y\n1,2,3\n"), "line 1", "column 2", "empty column name", target="y")


def test_csv_ragged_row(tmp_path):
    raises(
        write(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,5\n6,7,8\n"),
        "line 3",
        "found 2 fields, expected 3",
        target="y",
    )


def test_csv_ragged_row_counts_blank_lines(tmp_path):
    raises(write(tmp_path / "d.csv", "a,y\n1,2\n\n3,4,5\n"), "line 4", "found 3 fields", target="y")


def test_csv_non_numeric_cell(tmp_path):
    raises(
        write(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,abc,6\n"),
        "line 3",
        "column 2 'b'",
        "'abc'",
        target="y",
    )


def test_csv_empty_cell(tmp_path):
    raises(write(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,5,\n"), "line 3", "column 3 'y'", "empty cell", target="y")


def test_csv_multiline_cell_message_stays_one_line(tmp_path):
    raises(write(tmp_path / "d.csv", 'a,y\n1,2\n"x\ny",3\n'), "line 3", "column 1 'a'", target="y")


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_csv_non_finite_cell(tmp_path, cell):
    raises(
        write(tmp_path / "d.csv", f"a,b,y\n1,2,3\n4,{cell},6\n"),
        "line 3",
        "column 2 'b'",
        repr(cell),
        "finite",
        target="y",
    )


def test_csv_target_none_lists_columns(tmp_path):
    raises(write(tmp_path / "d.csv", "a,b,y\n1,2,3\n"), "--target", "'a', 'b', 'y'")


def test_csv_target_missing_lists_columns(tmp_path):
    raises(write(tmp_path / "d.csv", "a,b,y\n1,2,3\n"), "'z'", "not found", "'a', 'b', 'y'", target="z")


def test_csv_target_constant(tmp_path):
    raises(write(tmp_path / "d.csv", "a,y\n1,7\n2,7\n3,7\n"), "'y'", "constant", "cannot learn", target="y")


def test_csv_no_feature_columns(tmp_path):
    raises(write(tmp_path / "d.csv", "y\n1\n2\n"), "no feature columns", target="y")
    raises(write(tmp_path / "e.csv", "a,y\n1,2\n3,4\n"), "no feature columns", target=["a", "y"])


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n\xff\xfe,1\n")
    raises(path, "UTF-8", target="y")


# --- errors: .npy and .npz ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_npy_wrong_dimensionality(tmp_path, shape):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(float(np.prod(shape))).reshape(shape))
    raises(path, f"{len(shape)}-D", "expected a 2-D array")


def test_npy_no_rows(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((0, 3)))
    raises(path, "no rows")


def test_npy_non_finite(tmp_path):
    path = tmp_path / "d.npy"
    array = np.arange(12.0).reshape(4, 3)
    array[2, 1] = np.nan
    np.save(path, array)
    raises(path, "row 2, column 1", "nan", "finite")


def test_npy_bad_target(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    raises(path, "column index", target="y")
    raises(path, "out of range", "3 columns", target="3")


def test_npy_constant_target_and_no_features(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.column_stack([np.arange(4.0), np.ones(4)]))
    raises(path, "constant", "cannot learn")
    single = tmp_path / "s.npy"
    np.save(single, np.arange(4.0).reshape(4, 1))
    raises(single, "no feature columns")


def test_npy_not_numeric_and_not_npy(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    raises(path, "dtype", "expected real numbers")
    junk = write(tmp_path / "junk.npy", "not a numpy file\n")
    raises(junk, "cannot read")


def test_npz_missing_arrays_listed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((3, 2)), y=np.arange(3.0))
    raises(path, "'X'", "'inputs', 'y'")


def test_npz_wrong_dimensionality_and_rows(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros(3), y=np.arange(3.0))
    raises(path, "'X' is 1-D")
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros((3, 1, 1)))
    raises(path, "'y' is 3-D")
    np.savez(path, X=np.zeros((3, 2)), y=np.arange(4.0))
    raises(path, "3 rows", "4")


def test_npz_non_finite_and_constant(tmp_path):
    path = tmp_path / "d.npz"
    X = np.arange(6.0).reshape(3, 2)
    X[1, 0] = np.inf
    np.savez(path, X=X, y=np.arange(3.0))
    raises(path, "array 'X'", "row 1, column 0", "inf")
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.array([1.0, np.nan, 2.0]))
    raises(path, "array 'y'", "row 1", "nan")
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.full(3, 2.5))
    raises(path, "constant", "cannot learn")


def test_npz_holding_npy_and_vice_versa(tmp_path):
    npz = tmp_path / "a.npz"
    np.save(tmp_path / "tmp.npy", np.zeros((2, 2)))
    npz.write_bytes((tmp_path / "tmp.npy").read_bytes())
    raises(npz, "rename it to .npy")
    npy = tmp_path / "b.npy"
    np.savez(tmp_path / "tmp2.npz", X=np.zeros((2, 2)), y=np.arange(2.0))
    npy.write_bytes((tmp_path / "tmp2.npz").read_bytes())
    raises(npy, "rename it to .npz")


# --- Standardizer ---------------------------------------------------------------------


def test_standardizer_mean_zero_std_one():
    X = np.random.default_rng(1).normal(loc=5.0, scale=3.0, size=(50, 3))
    s = Standardizer.fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)


def test_standardizer_constant_column():
    X = np.column_stack([np.arange(5.0), np.full(5, 0.1)])
    s = Standardizer.fit(X)
    assert s.scale[1] == 1.0
    Z = s.transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z[:, 1], 0.0, atol=1e-15)
    np.testing.assert_allclose(Z[:, 0].std(), 1.0)


def test_standardizer_one_dimensional_and_mismatch():
    y = np.array([1.0, 2.0, 3.0])
    s = Standardizer.fit(y)
    np.testing.assert_allclose(s.transform(y), [-1.224744871391589, 0.0, 1.224744871391589])
    two = Standardizer.fit(np.zeros((4, 2)))
    with pytest.raises(DataError, match="2 columns"):
        two.transform(np.zeros((4, 3)))
    with pytest.raises(DataError, match="no rows"):
        Standardizer.fit(np.zeros((0, 2)))


def test_standardizer_on_diabetes():
    ds = diabetes()
    Z = Standardizer.fit(ds.X).transform(ds.X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)


def test_semicolon_separated_csv_gets_a_hint(tmp_path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;y\n1;2;3\n2;3;5\n")
    with pytest.raises(DataError, match="comma-separated"):
        load(path, target="y")
