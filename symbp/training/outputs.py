"""A run's files: where they go (checked before any work), and the parameters, history and plot written as one unit.

The parameters (``.npz``), the history (``.csv``) and the plot of a finished run are written
with :func:`symbp.files.write_files_atomic`: all of them or, when one cannot be written (a
full disk), none, and never a new file beside an old one of the same prefix.  When the
outputs or a checkpoint cannot be written where asked, :func:`keep_checkpoint` tries the
temporary folder too, so that the work of a run is not lost with the disk it was to be saved on.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbp.errors import UserError
from symbp.files import check_outputs, write_bytes_atomic, write_files_atomic, write_text_atomic
from symbp.training.checkpoint import Checkpoint, save_checkpoint
from symbp.training.state import HistoryRow, WatchRow

__all__ = ["OutputPaths", "keep_checkpoint", "params_bytes", "save_history", "save_params", "write_outputs"]


@dataclass(frozen=True)
class OutputPaths:
    """Where a training run writes: ``PREFIX.params.npz``, ``PREFIX.history.csv``, its checkpoint and a plot.

    Example:
        >>> OutputPaths.of("run", "run.checkpoint.npz").history.name
        'run.history.csv'
    """

    params: Path
    history: Path
    checkpoint: Path
    plot: Path | None = None

    @classmethod
    def of(cls, prefix: str | os.PathLike[str], checkpoint: str | os.PathLike[str], plot: str | os.PathLike[str] | None = None) -> OutputPaths:
        """The paths of a run with this output prefix, checkpoint and plot."""
        return cls(Path(f"{os.fspath(prefix)}.params.npz"), Path(f"{os.fspath(prefix)}.history.csv"), Path(checkpoint),
                   None if plot is None else Path(plot))

    def check(self, inputs: Mapping[str, str | os.PathLike[str] | None], resumed: bool = False) -> None:
        """Refuse, before any work, outputs that would replace an input or each other, or cannot be written.

        Args:
            inputs: the files read, by option (``"KERNEL.py"``, ``"--data"``, ``"--resume"``); None for one not given.
            resumed: the checkpoint may be the file resumed from (the run overwrites its own checkpoint).

        Raises:
            UserError: saying which output and which input.
        """
        outputs = {"-o (parameters)": self.params, "-o (history)": self.history, "--checkpoint": self.checkpoint}
        if self.plot is not None:
            outputs["--plot"] = self.plot
        given = {label: path for label, path in inputs.items() if path is not None}
        check_outputs(outputs, given, frozenset({("--checkpoint", "--resume")}) if resumed else frozenset())


def params_bytes(params: Mapping[str, np.ndarray], **extra: np.ndarray) -> bytes:
    """The parameters (and extra arrays such as the standardisation) as the bytes of an ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **params, **extra)
    return buffer.getvalue()


def history_text(history: tuple[HistoryRow, ...], watched: tuple[WatchRow, ...] = (), batch: bool = False) -> str:
    """The history as CSV; floats with ``repr``, which reads back to the same bits.

    Args:
        history: the run's rows.
        watched: the run's watched losses (``full_loss``, ``validation_loss``): one column each, after
            ``gamma``, empty at the steps where it was not evaluated.
        batch: the rows' losses are those of the steps' mini-batches: the column is then called
            ``batch_loss`` instead of ``loss``.

    Example:
        >>> print(history_text((HistoryRow(0, 1.5, 2.0, 0.1), HistoryRow(1, 1.0, 1.0, 0.1)),
        ...                    (WatchRow("full_loss", 1, 9.0),), batch=True), end="")
        step,batch_loss,grad_norm,gamma,full_loss
        0,1.5,2.0,0.1,
        1,1.0,1.0,0.1,9.0
    """
    names = list(dict.fromkeys(row.name for row in watched))
    at = {(row.name, row.step): row.loss for row in watched}
    lines = [",".join(["step", "batch_loss" if batch else "loss", "grad_norm", "gamma", *names])]
    for row in history:
        cells = [str(row.step), repr(row.loss), repr(row.grad_norm), repr(row.gamma)]
        cells += ["" if (name, row.step) not in at else repr(at[name, row.step]) for name in names]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


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
    return write_bytes_atomic(path, params_bytes(params, **extra))


def save_history(path: str | os.PathLike[str], history: tuple[HistoryRow, ...], watched: tuple[WatchRow, ...] = (), batch: bool = False) -> Path:
    """Write the history as CSV with columns step, loss, grad_norm, gamma (and the watched losses), atomically.

    Args:
        path: the file to write.
        history: the run's rows.
        watched, batch: as for :func:`history_text`.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> path = save_history(os.path.join(tempfile.mkdtemp(), "run.history.csv"), (HistoryRow(0, 1.5, 2.0, 0.1),))
        >>> print(open(path).read(), end="")
        step,loss,grad_norm,gamma
        0,1.5,2.0,0.1
    """
    return write_text_atomic(path, history_text(history, watched, batch))


def write_outputs(paths: OutputPaths, params: dict[str, np.ndarray], history: tuple[HistoryRow, ...], extra: Mapping[str, np.ndarray],
                  plot: bytes | None = None, watched: tuple[WatchRow, ...] = (), batch: bool = False) -> None:
    """Write a finished run's parameters, history and plot as one unit: all, or none and the previous files untouched.

    Args:
        paths: where.
        params: the parameters; extra: arrays saved beside them (standardisation).
        history: the run's rows.
        plot: the image's bytes (:func:`symbp.training.plot.plot_bytes`), when one is asked for.
        watched, batch: the history's watched losses and whether its losses are mini-batches' (:func:`history_text`).

    Raises:
        UserError: a file cannot be written (the disk is full, say); nothing was written then.
    """
    files = {paths.params: params_bytes(params, **extra), paths.history: history_text(history, watched, batch).encode("utf-8")}
    if plot is not None and paths.plot is not None:
        files[paths.plot] = plot
    write_files_atomic(files)


def keep_checkpoint(path: Path, checkpoint: Checkpoint) -> tuple[Path | None, str]:
    """Save a checkpoint where asked or, failing that, in a private folder of its own in the temporary folder.

    Args:
        path: the checkpoint's path.
        checkpoint: the run's record and state.

    Returns:
        Where it was saved (None: nowhere), and why it could not be saved where asked ("" if it was).
    """
    try:
        return save_checkpoint(path, checkpoint), ""
    except UserError as err:
        why = str(err)
    try:
        # A folder of its own (mode 0700, a name no one can guess): in a shared temporary folder a
        # predictable name could be taken first by another user, and the state is for this user alone.
        fallback = Path(tempfile.mkdtemp(prefix="symbp-")) / path.name
    except OSError:
        return None, why
    try:
        return save_checkpoint(fallback, checkpoint), why
    except UserError:
        try:
            fallback.parent.rmdir()
        except OSError:
            pass  # something was left in it: harmless, it is this user's alone
        return None, why
