"""Tests for symbp/training/outputs.py: the parameters and the history written atomically, read back to the same bits."""

from __future__ import annotations

import numpy as np

from symbp.training import HistoryRow
from symbp.training.outputs import save_history, save_params


def test_history_reads_back_to_the_same_bits(tmp_path):
    rows = (HistoryRow(0, 1 / 3, 2 ** 0.5, 0.1), HistoryRow(1, 1e-300, 7.0, 0.0))
    path = save_history(tmp_path / "run.history.csv", rows)
    lines = path.read_text().splitlines()
    assert lines[0] == "step,loss,grad_norm,gamma" and len(lines) == 3
    back = np.genfromtxt(path, delimiter=",", names=True)
    assert [tuple(row) for row in back] == [tuple(map(float, row)) for row in rows]
    assert [p.name for p in tmp_path.iterdir()] == ["run.history.csv"]  # no temporary file left


def test_params_are_saved_with_the_extra_arrays(tmp_path):
    params = {"W1": np.arange(6.0).reshape(2, 3), "b1": np.zeros(2, np.float32)}
    path = save_params(tmp_path / "run.params.npz", params, x_mean=np.ones(3))
    with np.load(path) as saved:
        assert saved.files == ["W1", "b1", "x_mean"] and saved["b1"].dtype == np.float32
        np.testing.assert_array_equal(saved["W1"], params["W1"])
