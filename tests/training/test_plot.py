"""Loss curves: an image of R and ‖∇R‖, checked before any work, and one line when matplotlib is missing."""

from __future__ import annotations

import sys

import pytest

from symbp.errors import UserError
from symbp.training import HistoryRow
from symbp.training.plot import INSTALL_HINT, check_plot_path, plot_history


def test_the_path_is_checked_before_training(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(UserError, match=r"must end in \.png, \.pdf or \.svg"):
        check_plot_path(tmp_path / "curves.jpg")
    with pytest.raises(UserError, match="does not exist"):
        check_plot_path(tmp_path / "missing" / "curves.png")


def test_without_matplotlib_the_message_says_how_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError) as info:
        check_plot_path(tmp_path / "curves.png")
    assert str(info.value) == INSTALL_HINT


def test_an_svg_is_written(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    rows = tuple(HistoryRow(step, 1.0 / (step + 1), 0.5 / (step + 1), 0.1) for step in range(20))
    path = plot_history(rows, tmp_path / "curves.svg", title="a run")
    assert path.read_text().lstrip().startswith("<?xml") and "svg" in path.read_text()[:500]


def test_watched_losses_are_drawn_with_their_names() -> None:
    pytest.importorskip("matplotlib")
    from symbp.training.plot import plot_bytes
    from symbp.training.state import WatchRow

    rows = tuple(HistoryRow(step, 1.0 / (step + 1), 0.5 / (step + 1), 0.1) for step in range(20))
    watched = tuple(WatchRow("validation_loss", step, 2.0 / (step + 1)) for step in range(0, 20, 5))
    plain = plot_bytes(rows, "svg").decode()
    drawn = plot_bytes(rows, "svg", watched=watched, batch=True).decode()
    assert "validation loss" in drawn and "R on the batch" in drawn and "validation loss" not in plain
