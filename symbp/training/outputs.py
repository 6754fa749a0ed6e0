"""A finished run's files, written atomically: the parameters as ``.npz``, the history as ``.csv``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from symbp.files import write_bytes_atomic, write_text_atomic
from symbp.training.state import HistoryRow

__all__ = ["save_history", "save_params"]


def save_params(path: str | os.PathLike[str], params: dict[str, np.ndarray], **extra: np.ndarray) -> Path:
    """Write parameters (and extra arrays, e.g. standardisation) to an ``.npz`` file, atomically.

    Args:
        path: the file to write.
        params: the parameters by name.
        extra: more arrays to store beside them (``x_mean``, ``x_scale``, ...).

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> path = save_params(os.path.join(tempfile.mkdtemp(), "run.params.npz"), {"b1": np.zeros(2)}, x_mean=np.ones(3))
        >>> sorted(np.load(path).files)
        ['b1', 'x_mean']
    """
    buffer = io.BytesIO()
    np.savez(buffer, **params, **extra)
    return write_bytes_atomic(path, buffer.getvalue())


def save_history(path: str | os.PathLike[str], history: tuple[HistoryRow, ...]) -> Path:
    """Write the history as CSV with columns step, loss, grad_norm, gamma, atomically.

    Floats are written with ``repr``, which reads back to the same bits.

    Args:
        path: the file to write.
        history: the run's rows.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> path = save_history(os.path.join(tempfile.mkdtemp(), "run.history.csv"), (HistoryRow(0, 1.5, 2.0, 0.1),))
        >>> print(open(path).read(), end="")
        step,loss,grad_norm,gamma
        0,1.5,2.0,0.1
    """
    lines = ["step,loss,grad_norm,gamma"]
    lines += [f"{row.step},{row.loss!r},{row.grad_norm!r},{row.gamma!r}" for row in history]
    return write_text_atomic(path, "\n".join(lines) + "\n")
