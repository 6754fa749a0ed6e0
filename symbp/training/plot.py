"""Loss and gradient-norm curves of a training run (matplotlib, an optional extra)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from symbp.errors import UserError
from symbp.files import writable_folder, write_bytes_atomic
from symbp.training.state import HistoryRow, WatchRow

INSTALL_HINT = "plotting needs matplotlib: pip install 'symbp[plot]' (or pip install matplotlib)"


def require_matplotlib() -> None:
    """Raise a UserError saying how to install matplotlib when it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise UserError(INSTALL_HINT) from err


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """Check, before any work, that an image can be drawn to ``path``: matplotlib, suffix, folder."""
    require_matplotlib()
    target = Path(path)
    if target.suffix.lstrip(".").lower() not in ("png", "pdf", "svg"):
        raise UserError(f"--plot {target}: the image must end in .png, .pdf or .svg")
    writable_folder(target)
    return target


def plot_bytes(history: tuple[HistoryRow, ...], fmt: str, title: str = "", watched: tuple[WatchRow, ...] = (), batch: bool = False) -> bytes:
    """The loss R and the gradient norm ‖∇R‖ against the step l, log scale, as the bytes of an image.

    Args:
        history: the run's rows.
        fmt: ``png``, ``pdf`` or ``svg``.
        title: a title above the two plots.
        watched: watched losses (R on all the data, on validation data), drawn with markers beside R.
        batch: the history's losses are those of mini-batches (labelled so).

    Returns:
        The image's bytes (the same bytes for the same history).
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    steps = [row.step for row in history]
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    loss_axes, grad_axes = figure.subplots(1, 2)
    loss_axes.plot(steps, [max(row.loss, 1e-300) for row in history], label="R on the batch" if batch else "R")
    for name in dict.fromkeys(row.name for row in watched):
        rows = [row for row in watched if row.name == name]
        loss_axes.plot([row.step for row in rows], [max(row.loss, 1e-300) for row in rows], marker=".", label=name.replace("_", " "))
    if watched:
        loss_axes.legend()
    loss_axes.set(yscale="log", xlabel="step l", ylabel="R", title="loss")
    grad_axes.plot(steps, [max(row.grad_norm, 1e-300) for row in history], color="tab:orange")
    grad_axes.set(yscale="log", xlabel="step l", ylabel="‖∇R‖", title="gradient norm")
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    # A fixed creation date keeps the image the same bytes for the same history.
    figure.savefig(buffer, format=fmt, metadata={"Software": "symbp"} if fmt == "png" else {"Creator": "symbp", "CreationDate": None} if fmt == "pdf" else {"Date": None})
    return buffer.getvalue()


def plot_history(history: tuple[HistoryRow, ...], path: str | os.PathLike[str], title: str = "") -> Path:
    """Write the loss R and the gradient norm ‖∇R‖ against the step l, log scale, as an image (PNG, PDF, SVG by suffix)."""
    target = check_plot_path(path)
    return write_bytes_atomic(target, plot_bytes(history, target.suffix.lstrip(".").lower(), title))
