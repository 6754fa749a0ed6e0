"""Tests for symbp/data/columns.py: header checks and target resolution, message by message.

These helpers serve both readers (symbp.data.load and symbp.cluster.read_data);
tests/cluster/test_partitions.py checks that the cluster's reader gives the same messages.
"""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data.columns import (
    check_header,
    check_not_constant,
    csv_feature_columns,
    csv_target_names,
    inputs_and_targets,
    take_inputs_and_targets,
    npy_feature_columns,
    npy_target_columns,
)
from symbp.errors import DataError

NAMES = ["a", "b", "y"]


def message_of(call, *args) -> str:
    """The message of the DataError ``call(*args)`` raises; it must be one line."""
    with pytest.raises(DataError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


# --- the header ---------------------------------------------------------------------------


def test_check_header_strips_the_names():
    assert check_header([" a", "b ", " y "], 1, "d.csv") == NAMES


@pytest.mark.parametrize(
    ("header", "line", "message"),
    [
        (["a", "y", "a"], 1, "d.csv line 1, column 3: duplicate column name 'a' (also column 1); column names must be unique"),
        (["a", " ", "y"], 2, "d.csv line 2, column 2: empty column name; every column needs a name"),
        (
            ["a;b;y"],
            1,
            "d.csv line 1: the header is one column 'a;b;y'; symbp reads comma-separated files: replace ';' or tabs with ','",
        ),
        (
            ["a\tb\ty"],
            3,
            "d.csv line 3: the header is one column 'a\\tb\\ty'; symbp reads comma-separated files: replace ';' or tabs with ','",
        ),
    ],
)
def test_check_header_messages(header, line, message):
    assert message_of(check_header, header, line, "d.csv") == message


def test_a_long_column_name_is_cut_in_the_message():
    long = "x" * 60
    message = message_of(check_header, [long, long], 1, "d.csv")
    assert f"duplicate column name '{'x' * 37}...'" in message


# --- CSV targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [("y", (["y"], True)), (" b ", (["b"], True)), (["y"], (["y"], True)), (["y", "a"], (["y", "a"], False)), (("b",), (["b"], True))],
)
def test_csv_target_names(target, expected):
    assert csv_target_names(target, NAMES, 1, "d.csv") == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            None,
            "d.csv: no target column chosen; pass --target NAME (target= in Python) with one of the columns "
            "'a', 'b', 'y', or NAME1,NAME2 for several outputs",
        ),
        ([], "d.csv: the list of target columns is empty; name at least one of 'a', 'b', 'y'"),
        ([3], "d.csv: target 3 is not a column name; name one of 'a', 'b', 'y'"),
        ("z", "d.csv line 4: target column 'z' not found; available columns are 'a', 'b', 'y'"),
        (["y", " y"], "d.csv: target column 'y' is named twice; name each target once"),
    ],
)
def test_csv_target_names_messages(target, message):
    assert message_of(csv_target_names, target, NAMES, 4, "d.csv") == message


def test_csv_feature_columns():
    assert csv_feature_columns(NAMES, ["b"], 1, "d.csv") == [0, 2]
    assert csv_feature_columns(NAMES, ["y", "a"], 1, "d.csv") == [1]
    assert message_of(csv_feature_columns, ["a", "y"], ["y", "a"], 2, "d.csv") == (
        "d.csv line 2: no feature columns left after taking the target 'y', 'a'; "
        "the file needs at least one input column besides the target"
    )


# --- .npy targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [(None, ([3], True)), ("0", ([0], True)), (" 2 ", ([2], True)), (["3", "1"], ([3, 1], False))],
)
def test_npy_target_columns(target, expected):
    assert npy_target_columns(target, 4, "d.npy") == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([], "d.npy: the list of target columns is empty; give at least one column index"),
        ("y", "d.npy: target 'y' is not a column index; for .npy files give the target column as digits, counting from 0 (0..3)"),
        ("-1", "d.npy: target '-1' is not a column index; for .npy files give the target column as digits, counting from 0 (0..3)"),
        ([2], "d.npy: target 2 is not a column index; for .npy files give the target column as digits, counting from 0 (0..3)"),
        ("4", "d.npy: target column 4 is out of range; the array has 4 columns (0..3)"),
        (["1", "01"], "d.npy: target column 1 is named twice; name each target once"),
    ],
)
def test_npy_target_columns_messages(target, message):
    assert message_of(npy_target_columns, target, 4, "d.npy") == message


def test_npy_feature_columns():
    assert npy_feature_columns([3], 4, "d.npy") == [0, 1, 2]
    assert message_of(npy_feature_columns, [0], 1, "d.npy") == (
        "d.npy: no feature columns left after taking target column(s) [0] of 1; "
        "the array needs at least one input column besides the target"
    )


# --- constant targets and the split into X and y ------------------------------------------


def test_check_not_constant():
    check_not_constant(np.array([1.0, 1.0, 2.0]), "d.csv, target column 'y'")
    assert message_of(check_not_constant, np.full(3, 2.5), "d.csv, target column 'y'") == (
        "d.csv, target column 'y': the target is constant (every row is 2.5), so a network cannot learn "
        "anything from it; choose a target column whose values vary"
    )


def test_inputs_and_targets_copies_and_shapes():
    table = np.arange(12.0).reshape(3, 4)
    X, y = inputs_and_targets(table, [0, 3], [2], True)
    np.testing.assert_array_equal(X, table[:, [0, 3]])
    np.testing.assert_array_equal(y, table[:, 2])
    assert y.shape == (3,) and X.flags.c_contiguous and y.flags.c_contiguous
    X[0, 0] = y[0] = -1.0
    assert table[0, 0] == 0.0 and table[0, 2] == 2.0  # copies, not views of the file's table
    _, Y = inputs_and_targets(table, [0], [3, 1], False)
    assert Y.shape == (3, 2) and Y.flags.c_contiguous
    np.testing.assert_array_equal(Y, table[:, [3, 1]])


@pytest.mark.parametrize(("shape", "features", "targets", "single"), [((7, 3), [0, 2], [1], True), ((40000, 5), [4, 0, 2], [3, 1], False), ((1, 2), [1], [0], True)])
def test_take_inputs_and_targets_gives_what_inputs_and_targets_gives_in_the_tables_memory(shape, features, targets, single):
    table = np.random.default_rng(0).standard_normal(shape)
    X_expected, y_expected = inputs_and_targets(table, features, targets, single)
    X, y = take_inputs_and_targets(table.copy(), features, targets, single)
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    assert X.flags.c_contiguous and y.flags.c_contiguous


def test_take_inputs_and_targets_copies_a_table_it_does_not_own():
    base = np.arange(12.0).reshape(4, 3)
    X, y = take_inputs_and_targets(base[1:], [0, 1], [2], True)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(4, 3))  # the view's owner is left as it was
    assert X.tolist() == [[3.0, 4.0], [6.0, 7.0], [9.0, 10.0]] and y.tolist() == [5.0, 8.0, 11.0]
