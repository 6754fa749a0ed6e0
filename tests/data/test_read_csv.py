"""Tests for symbp/data/read_csv.py: CSV files read through load, and their one-line error messages."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data import load
from symbp.errors import DataError
from tests.helpers import assert_load_fails, write_text


# --- round trips ----------------------------------------------------------------------


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
    path = write_text(tmp_path / "d.csv", "\ufeff a , y \r\n1, 2\r\n\r\n3 ,5\r\n\r\n")
    ds = load(path, target="y")
    np.testing.assert_array_equal(ds.X, [[1], [3]])
    np.testing.assert_array_equal(ds.y, [2, 5])
    assert ds.feature_names == ("a",)


# --- errors: CSV ----------------------------------------------------------------------


def test_csv_blank_lines_only(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "\n\n"), "blank")


def test_csv_header_only(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,y\n"), "line 1", "no data rows", target="y")


def test_csv_duplicate_column_name(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,y,a\n1,2,3\n"), "line 1", "column 3", "'a'", "duplicate", target="y")


def test_csv_empty_column_name(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,,y\n1,2,3\n"), "line 1", "column 2", "empty column name", target="y")


def test_csv_ragged_row(tmp_path):
    assert_load_fails(
        write_text(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,5\n6,7,8\n"),
        "line 3",
        "found 2 fields, expected 3",
        target="y",
    )


def test_csv_ragged_row_counts_blank_lines(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,y\n1,2\n\n3,4,5\n"), "line 4", "found 3 fields", target="y")


def test_csv_non_numeric_cell(tmp_path):
    assert_load_fails(
        write_text(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,abc,6\n"),
        "line 3",
        "column 2 'b'",
        "'abc'",
        target="y",
    )


def test_csv_empty_cell(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,b,y\n1,2,3\n4,5,\n"), "line 3", "column 3 'y'", "empty cell", target="y")


def test_csv_multiline_cell_message_stays_one_line(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", 'a,y\n1,2\n"x\ny",3\n'), "line 3", "column 1 'a'", target="y")


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_csv_non_finite_cell(tmp_path, cell):
    assert_load_fails(
        write_text(tmp_path / "d.csv", f"a,b,y\n1,2,3\n4,{cell},6\n"),
        "line 3",
        "column 2 'b'",
        repr(cell),
        "finite",
        target="y",
    )


def test_csv_target_none_lists_columns(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,b,y\n1,2,3\n"), "--target", "'a', 'b', 'y'")


def test_csv_target_missing_lists_columns(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,b,y\n1,2,3\n"), "'z'", "not found", "'a', 'b', 'y'", target="z")


def test_csv_target_constant(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "a,y\n1,7\n2,7\n3,7\n"), "'y'", "constant", "cannot learn", target="y")


def test_csv_no_feature_columns(tmp_path):
    assert_load_fails(write_text(tmp_path / "d.csv", "y\n1\n2\n"), "no feature columns", target="y")
    assert_load_fails(write_text(tmp_path / "e.csv", "a,y\n1,2\n3,4\n"), "no feature columns", target=["a", "y"])


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n\xff\xfe,1\n")
    assert_load_fails(path, "UTF-8", target="y")


def test_semicolon_separated_csv_gets_a_hint(tmp_path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;y\n1;2;3\n2;3;5\n")
    with pytest.raises(DataError, match="comma-separated"):
        load(path, target="y")
