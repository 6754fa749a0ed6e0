"""Class labels one-hot encoded: the order of the classes, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data import load, load_inputs
from symbp.data.labels import one_hot
from symbp.errors import DataError


def test_classes_are_sorted_as_text_or_by_value() -> None:
    classes, Y = one_hot(["dog", "cat", "emu", "cat"], [2, 3, 4, 5], "d.csv")
    assert classes == ("cat", "dog", "emu")
    np.testing.assert_array_equal(Y, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])
    assert one_hot(["10", "9", " 2"], [2, 3, 4], "d.csv")[0] == ("2", "9", "10")


@pytest.mark.parametrize(("labels", "classes", "message"), [
    (["a", "a"], None, "every sample has the class 'a'"),
    (["a", " "], None, "line 3: the class label is empty"),
    (["a", "c"], ("a", "b"), "line 3: the class 'c' is not one the network was trained on .a, b."),
])
def test_bad_labels_are_refused_with_one_line(labels, classes, message) -> None:
    with pytest.raises(DataError, match=message):
        one_hot(labels, [2, 3], "d.csv", classes)


def test_a_csv_label_column_and_its_inputs(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,kind,b\n1,dog,2\n3,cat,4\n5,dog,6\n")
    data = load(path, "kind", labels=True)
    assert data.classes == ("cat", "dog") and data.feature_names == ("a", "b")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(data.y, [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(load_inputs(path, "kind").X, data.X)  # the labels are left out unread
    with pytest.raises(DataError, match="from one target column"):
        load(path, ["kind", "a"], labels=True)
    np.save(tmp_path / "d.npy", np.ones((3, 3)))
    with pytest.raises(DataError, match="class labels are read from a CSV column"):
        load(tmp_path / "d.npy", "2", labels=True)
