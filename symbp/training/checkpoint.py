"""Checkpoints: an interrupted training run, saved to one file and resumed from it.

A checkpoint holds the runner's whole state (:class:`symbp.runner.RunnerState`:
parameters, step number, history, the Armijo rule's last γ, the mini-batch
generator's state and place in the epoch) together with the :class:`Settings`
the run was started with (kernel, data, target, steps, step-size rule, batch
size, seed, ...), so that ``symbp train --resume FILE`` goes on exactly where
the run stopped and ends with the same parameters and history, bit for bit, as
a run never interrupted.  Fingerprints of the kernel file and of the data let
a resumed run refuse inputs that have changed.

The file is an ``.npz`` (written atomically, see :mod:`symbp.files`): the
arrays under ``params/NAME``, ``previous/NAME``, ``pending_grad/NAME``,
``history_*`` and ``order``, and everything else as JSON text in ``meta``.
It is read with ``allow_pickle=False``: loading a checkpoint runs no code.

:class:`StopOnSignals` turns SIGINT and SIGTERM into a stop request that the
runner sees between steps.

Example:
    >>> import numpy as np, tempfile, os
    >>> from symbp.training.runner import run
    >>> def objective(params, batch):
    ...     r = params["a"] - 2.0
    ...     return 0.5 * float(r @ r), {"a": r}
    >>> first = run(objective, {"a": np.zeros(2)}, steps=3, step_size=0.5, stop_requested=lambda: True)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.checkpoint.npz")
    >>> settings = Settings(kernel="k.py", kernel_sha256="", data="d.csv", data_sha256="", target=None, steps=3,
    ...                     step_size="0.5", batch_size=None, seed=0, tol=0.0, patience=None, standardize=False,
    ...                     divergence_factor=None, output="run", trust=False)
    >>> _ = save_checkpoint(path, Checkpoint(settings, first.state))
    >>> again = load_checkpoint(path)
    >>> run(objective, None, steps=3, step_size=0.5, state=again.state).params["a"]
    array([1.75, 1.75])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from symbp.errors import UserError
from symbp.files import write_bytes_atomic
from symbp.training.runner import Evaluation, HistoryRow, Params, RunnerState

__all__ = ["Checkpoint", "Settings", "StopOnSignals", "data_sha256", "file_sha256", "load_checkpoint", "save_checkpoint"]

FORMAT = "symbp-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Settings:
    """What a ``symbp train`` run was started with; a resumed run keeps all of it.

    Paths are absolute, so that a run can be resumed from another folder.
    ``step_size`` is the rule as typed (``"armijo"``, ``"constant:0.01"``, ...);
    ``target`` as typed for ``--target`` (None: the format's default).
    ``data_sha256`` fingerprints the loaded X and y (before standardisation),
    ``kernel_sha256`` the kernel file's bytes.
    """

    kernel: str
    kernel_sha256: str
    data: str
    data_sha256: str
    target: str | None
    steps: int
    step_size: str
    batch_size: int | None
    seed: int
    tol: float
    patience: int | None
    standardize: bool
    divergence_factor: float | None
    output: str
    trust: bool


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A run stopped between two steps: its settings and the runner's state."""

    settings: Settings
    state: RunnerState


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def data_sha256(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the shapes and float64 values of X and y, hex: equal exactly when the data are."""
    digest = hashlib.sha256()
    for array in (X, y):
        values = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(values.shape).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


# --- writing ------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (an ``.npz``), atomically.

    Raises:
        UserError: the folder does not exist or cannot be written.
    """
    state = checkpoint.state
    arrays: dict[str, np.ndarray] = {}
    for group, params in (("params", state.params), ("previous", state.previous), ("pending_grad", state.pending and state.pending.grad)):
        for name, value in (params or {}).items():
            arrays[f"{group}/{name}"] = np.asarray(value)
    arrays["history_step"] = np.array([row.step for row in state.history], dtype=np.int64)
    for column in ("loss", "grad_norm", "gamma"):
        arrays[f"history_{column}"] = np.array([getattr(row, column) for row in state.history], dtype=np.float64)
    if state.order is not None:
        arrays["order"] = np.asarray(state.order, dtype=np.int64)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "settings": asdict(checkpoint.settings),
        "state": {
            "step": state.step,
            "param_names": list(state.params),  # the order matters: ‖∇R‖² is summed in it
            "has_previous": state.previous is not None,
            "last_gamma": state.last_gamma,
            "pending": None if state.pending is None else {"loss": state.pending.loss, "norm_sq": state.pending.norm_sq},
            "rng": state.rng,
            "position": state.position,
        },
    }
    # Python's JSON writes floats with repr, which reads back to the same bits.
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


# --- reading ------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        UserError: the file is missing, is not a symbp checkpoint, is of another
            format version, or is damaged; the message names the file.
    """
    file = Path(path)
    if not file.is_file():
        raise UserError(f"checkpoint {file} does not exist; 'symbp train' writes one when it is interrupted (Ctrl-C or SIGTERM)")
    not_ours = f"{file} is not a symbp checkpoint (written by 'symbp train' when interrupted)"
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{not_ours}: {err}") from err
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise UserError(not_ours)
    try:
        meta = json.loads(str(arrays["meta"][()]))
    except (ValueError, TypeError) as err:
        raise UserError(f"{not_ours}: its metadata is not JSON") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(not_ours)
    if meta.get("version") != VERSION:
        raise UserError(f"{file} is a checkpoint of format version {meta.get('version')!r}, but this symbp reads version {VERSION}; resume it with the symbp that wrote it")
    try:
        return Checkpoint(_settings(meta["settings"]), _state(meta["state"], arrays))
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise UserError(f"checkpoint {file} is damaged ({type(err).__name__}: {err}); start the run again without --resume") from err


def _settings(raw: dict[str, Any]) -> Settings:
    names = {f.name for f in fields(Settings)}
    if not isinstance(raw, dict) or raw.keys() != names:
        raise ValueError(f"the settings must have exactly the fields {sorted(names)}")
    return Settings(**raw)


def _group(arrays: dict[str, np.ndarray], group: str, names: list[str]) -> Params:
    return {name: arrays[f"{group}/{name}"] for name in names}


def _state(raw: dict[str, Any], arrays: dict[str, np.ndarray]) -> RunnerState:
    names = [str(name) for name in raw["param_names"]]
    step = int(raw["step"])
    steps, losses = arrays["history_step"], arrays["history_loss"]
    norms, gammas = arrays["history_grad_norm"], arrays["history_gamma"]
    if not len(steps) == len(losses) == len(norms) == len(gammas) == step:
        raise ValueError(f"the history has {len(steps)} rows, but the run stopped at step {step}")
    history = tuple(
        HistoryRow(step=int(s), loss=float(loss), grad_norm=float(norm), gamma=float(gamma))
        for s, loss, norm, gamma in zip(steps.tolist(), losses.tolist(), norms.tolist(), gammas.tolist())
    )
    pending = raw["pending"]
    last_gamma = raw["last_gamma"]
    return RunnerState(
        step=step,
        params=_group(arrays, "params", names),
        previous=_group(arrays, "previous", names) if raw["has_previous"] else None,
        history=history,
        last_gamma=None if last_gamma is None else float(last_gamma),
        pending=None if pending is None else Evaluation(float(pending["loss"]), _group(arrays, "pending_grad", names), float(pending["norm_sq"])),
        rng=raw["rng"],
        order=arrays.get("order"),
        position=int(raw["position"]),
    )


# --- signals ------------------------------------------------------------------------


class StopOnSignals:
    """While active, SIGINT and SIGTERM ask for a stop instead of ending the process.

    The first signal is recorded (:attr:`received`) and :meth:`requested` then
    answers True, so a runner given ``stop_requested=stop.requested`` finishes
    its current step and hands back its state.  The signals' previous handlers
    are put back at once, so a second signal acts as usual (a second Ctrl-C
    aborts without waiting).  Outside the main thread, where Python cannot
    install handlers, it does nothing.

    Example:
        >>> with StopOnSignals() as stop:
        ...     stop.requested()
        False
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def requested(self) -> bool:
        """True once one of the signals has arrived."""
        return self.received is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            # None: the old handler was not set from Python; the default is the best we can do.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def __enter__(self) -> StopOnSignals:
        try:
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            self._restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()
