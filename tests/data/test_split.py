"""Tests for symbp/data/split.py: validation rows held out of the training data."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data.split import holdout
from symbp.errors import DataError


def test_holdout_splits_the_rows_into_two_disjoint_parts_in_file_order_chosen_by_the_seed() -> None:
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20.0)
    X_train, y_train, X_val, y_val = holdout(X, y, 0.3, seed=5)
    assert len(y_val) == 6 and len(y_train) == 14
    assert sorted(np.concatenate([y_train, y_val]).tolist()) == y.tolist()
    assert np.all(np.diff(y_train) > 0) and np.all(np.diff(y_val) > 0)  # each part in the file's order
    np.testing.assert_array_equal(X_val[:, 1], 2 * y_val + 1)  # rows stay whole
    expected = np.sort(np.random.default_rng(5).permutation(20)[:6])
    np.testing.assert_array_equal(y_val, expected)
    assert not np.array_equal(holdout(X, y, 0.3, seed=6)[3], y_val)


def test_holdout_keeps_targets_of_several_columns() -> None:
    X, y = np.zeros((10, 1)), np.arange(30.0).reshape(10, 3)
    assert holdout(X, y, 0.5, seed=0)[3].shape == (5, 3)


@pytest.mark.parametrize(("fraction", "fragment"), [(0.0, "between 0 and 1"), (1.0, "between 0 and 1"), (0.01, "leaves no validation rows"), (0.99, "leaves no training rows")])
def test_holdout_refuses_a_fraction_that_leaves_a_part_empty(fraction, fragment) -> None:
    with pytest.raises(DataError, match=fragment):
        holdout(np.zeros((10, 1)), np.zeros(10), fraction, seed=0)
