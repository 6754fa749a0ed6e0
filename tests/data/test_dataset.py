"""Tests for symbp/data/dataset.py: the Dataset value."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from symbp.data import Dataset


def test_n_p_and_immutability():
    ds = Dataset(np.zeros((5, 3)), np.arange(5.0), ("a", "b", "c"), ("y",), "d.csv")
    assert (ds.n, ds.p) == (5, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.source = "e.csv"  # type: ignore[misc]


def test_equality_is_identity_not_array_comparison():
    def make() -> Dataset:
        return Dataset(np.zeros((2, 1)), np.arange(2.0), ("a",), ("y",), "d.csv")

    first = make()
    assert first == first and first != make()  # no ambiguous truth value of arrays compared with ==
