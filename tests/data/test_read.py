"""Tests for symbp/data/read.py: load's checks before any reader, and the shipped diabetes data."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.data import Dataset, diabetes, load
from tests.helpers import ROOT, assert_load_fails, write_text

DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
DIABETES_CSV = ROOT / "symbp" / "data" / "diabetes.csv"


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
    text = DIABETES_CSV.read_bytes().decode("ascii")
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert lines[0] == "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,y"
    assert len(lines) == 443
    assert all(len(line.split(",")) == 11 for line in lines)
    cells = [cell for line in lines[1:] for cell in line.split(",")]
    assert not any(cell.endswith(".0") or "e" in cell.lower() for cell in cells)


def test_diabetes_loads_through_load():
    ds = load(DIABETES_CSV, target="y")
    np.testing.assert_array_equal(ds.X, diabetes().X)


# --- errors: any format ---------------------------------------------------------------


def test_missing_file(tmp_path):
    assert_load_fails(tmp_path / "nothere.csv", "no such file")


@pytest.mark.parametrize("name", ["d.txt", "d.json", "d"])
def test_unknown_suffix_names_allowed(tmp_path, name):
    assert_load_fails(write_text(tmp_path / name, "a,b\n1,2\n"), ".csv", ".npy", ".npz")


@pytest.mark.parametrize("name", ["d.csv", "d.npy", "d.npz"])
def test_empty_file(tmp_path, name):
    assert_load_fails(write_text(tmp_path / name, ""), "empty")
