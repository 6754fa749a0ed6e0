"""Tests for symbp/data/standardize.py: Standardizer."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data import Standardizer, diabetes
from symbp.errors import DataError


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
