"""Checkpoints: an interrupted training run, saved to one file and resumed from it.

A checkpoint holds the runner's whole state (:class:`~symbp.training.state.RunnerState`:
parameters, step number, history, the Armijo rule's last γ, the mini-batch
generator's state and place in the epoch) together with the :class:`RunRecord`
of the run (kernel, data, target, standardisation, output prefix, and its
:class:`~symbp.training.settings.RunSettings`), so that
``symbp train --resume FILE`` goes on exactly where the run stopped and ends
with the same parameters and history, bit for bit, as a run never interrupted.
Fingerprints of the kernel file and of the data let a resumed run refuse
inputs that have changed.

The file is an ``.npz`` (written atomically, see :mod:`symbp.files`): the
arrays under ``params/NAME``, ``previous/NAME``, ``pending_grad/NAME``,
``history_*`` and ``order``, and everything else as JSON text in ``meta``.
It is read with ``allow_pickle=False`` after its arrays' declared sizes are
checked against memory, and every JSON field must have the type symbp writes:
loading a checkpoint runs no code.  Nothing in it decides what code runs or
where outputs go: the record's kernel path, output prefix and trust flag are
written for information and never used by ``symbp train --resume``, which
takes the kernel, ``--trust`` and ``-o`` from its command line.  The record is
stored as the fifteen flat fields of format version 1 (see
:func:`_record_fields`), so that checkpoints written by any symbp of that
version load and resume.

Example:
    >>> import numpy as np, tempfile, os
    >>> from symbp.training.runner import run
    >>> def objective(params, batch):
    ...     r = params["a"] - 2.0
    ...     return 0.5 * float(r @ r), {"a": r}
    >>> settings = RunSettings(steps=3, step_size="0.5", divergence_factor=None)
    >>> first = run(objective, {"a": np.zeros(2)}, settings=settings, stop_requested=lambda: True)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.checkpoint.npz")
    >>> record = RunRecord(kernel="k.py", kernel_sha256="", data="d.csv", data_sha256="", target=None,
    ...                    standardize=False, output="run", trust=False, settings=settings)
    >>> _ = save_checkpoint(path, Checkpoint(record, first.state))
    >>> again = load_checkpoint(path)
    >>> run(objective, None, settings=again.record.settings, state=again.state).params["a"]
    array([1.75, 1.75])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symbp.data.read_numpy import read_npz_arrays
from symbp.errors import DataError, UserError
from symbp.files import write_bytes_atomic
from symbp.training.batches import Batches
from symbp.training.settings import MIN_IMPROVEMENT, RunSettings
from symbp.training.state import Evaluation, HistoryRow, Params, RunnerState, WatchRow

__all__ = ["Checkpoint", "RunRecord", "check_keepable", "data_sha256", "file_sha256", "load_checkpoint", "save_checkpoint"]

FORMAT = "symbp-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class RunRecord:
    """What a ``symbp train`` run was started with; a resumed run keeps all of it.

    Paths are absolute, so that a run can be resumed from another folder.
    ``target`` is as typed for ``--target`` (None: the format's default).
    ``data_sha256`` fingerprints the loaded X and y (before standardisation),
    ``kernel_sha256`` the kernel file's bytes.  ``validation`` is the fraction of the rows
    held out as validation data, or ``validation_data`` the file they come from
    (``validation_sha256`` fingerprints it as ``data_sha256`` does the data); None without.
    ``settings`` are the run's;
    their step-size rule must have a spelling (as typed for ``--step-size``),
    which is what the checkpoint keeps.

    Raises:
        UserError: the step-size rule has no spelling a checkpoint can keep.
    """

    kernel: str
    kernel_sha256: str
    data: str
    data_sha256: str
    target: str | None
    standardize: bool
    output: str
    trust: bool
    settings: RunSettings
    validation: float | None = None
    validation_data: str | None = None
    validation_sha256: str | None = None

    def __post_init__(self) -> None:
        check_keepable(self.settings)


def check_keepable(settings: RunSettings) -> None:
    """Refuse settings a checkpoint cannot keep: a step-size rule without a spelling for ``--step-size``.

    Raises:
        UserError: saying which rule, and what would do.
    """
    if settings.step_size_spelling is None:
        raise UserError(
            f"a checkpoint keeps the step-size rule as spelled for --step-size, and {settings.rule!r} has no "
            "spelling: leave c, shrink, grow and max_backtracks at their defaults"
        )


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A run stopped between two steps: its record and the runner's state."""

    record: RunRecord
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
        "settings": _record_fields(checkpoint.record),
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
    if state.best_step is not None:  # the best point seen, which a diverged or early-stopped run hands back
        meta["state"]["best_step"] = state.best_step
        for name, value in state.best.items():
            arrays[f"best/{name}"] = np.asarray(value)
    if state.watched:  # the watched losses (validation, full data), by name
        meta["state"]["watched_names"] = [row.name for row in state.watched]
        arrays["watched_step"] = np.array([row.step for row in state.watched], dtype=np.int64)
        arrays["watched_loss"] = np.array([row.loss for row in state.watched], dtype=np.float64)
    if state.memory is not None:  # a rule with a memory (momentum, Adam): its arrays, and its numbers in the JSON
        for key, value in state.memory.items():
            if isinstance(value, np.ndarray):
                arrays[f"memory/{key}"] = value
        meta["state"]["memory"] = {key: value for key, value in state.memory.items() if not isinstance(value, np.ndarray)}
    # Python's JSON writes floats with repr, which reads back to the same bits.
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


# --- reading ------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Nothing in it decides what code runs: the record's kernel path, output prefix and
    trust flag are information only (``symbp train --resume`` takes them from the command
    line).  Its arrays' sizes are checked before they are read, and every field is checked
    to have the type that symbp writes.

    Raises:
        UserError: the file is missing, is not a symbp checkpoint, is of another
            format version, is damaged, or declares more data than memory allows;
            the message names the file.
    """
    file = Path(path)
    if not file.is_file():
        raise UserError(f"checkpoint {file} does not exist; 'symbp train' writes one when it is interrupted (Ctrl-C or SIGTERM)")
    not_ours = f"{file} is not a symbp checkpoint (written by 'symbp train' when interrupted)"
    try:
        arrays = read_npz_arrays(file, str(file))
    except DataError as err:
        raise UserError(f"{not_ours}: {err}") from err
    meta = _meta(arrays, not_ours)
    if meta.get("format") != FORMAT:
        raise UserError(not_ours)
    if meta.get("version") != VERSION:
        shown = meta.get("version") if isinstance(meta.get("version"), int) else "?"
        raise UserError(f"{file} is a checkpoint of format version {shown!r}, but this symbp reads version {VERSION}; resume it with the symbp that wrote it")
    try:
        return Checkpoint(_record(meta["settings"]), _state(meta["state"], arrays))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, UserError) as err:
        why = str(err) if isinstance(err, (ValueError, UserError)) else f"{type(err).__name__}: {err}"
        raise UserError(f"checkpoint {file} is damaged ({why}); start the run again without --resume") from err


#: The longest metadata read: a checkpoint's is a few kilobytes.
MAX_META = 1 << 20


def _meta(arrays: dict[str, np.ndarray], not_ours: str) -> dict[str, Any]:
    """The checkpoint's JSON metadata, as a dict."""
    raw = arrays.get("meta")
    if raw is None or raw.shape != () or raw.dtype.kind != "U" or raw.dtype.itemsize > 4 * MAX_META:
        raise UserError(not_ours)
    try:
        meta = json.loads(str(raw[()]))
    except (ValueError, TypeError, RecursionError) as err:
        raise UserError(f"{not_ours}: its metadata is not JSON symbp writes") from err
    if not isinstance(meta, dict):
        raise UserError(not_ours)
    return meta


#: The record's fields in a checkpoint of format version 1, flat, as the run's options are named.
_FIELDS = ("kernel", "kernel_sha256", "data", "data_sha256", "target", "steps", "step_size", "batch_size", "seed", "tol",
           "patience", "standardize", "divergence_factor", "output", "trust")


def _record_fields(record: RunRecord) -> dict[str, Any]:
    """The record as the flat JSON object of format version 1.

    ``min_improvement``, which ``symbp train`` leaves at its default, is written only
    when it differs from it (by a run started from Python).
    """
    settings = record.settings
    fields = {
        "kernel": record.kernel, "kernel_sha256": record.kernel_sha256, "data": record.data, "data_sha256": record.data_sha256,
        "target": record.target, "steps": settings.steps, "step_size": settings.step_size_spelling,
        "batch_size": settings.batch_size, "seed": settings.seed, "tol": settings.grad_tol, "patience": settings.patience,
        "standardize": record.standardize, "divergence_factor": settings.divergence_factor, "output": record.output,
        "trust": record.trust,
    }
    if settings.min_improvement != MIN_IMPROVEMENT:
        fields["min_improvement"] = settings.min_improvement
    for name in _VALIDATION_FIELDS:  # written only for a run with validation data, so older checkpoints read as before
        if getattr(record, name) is not None:
            fields[name] = getattr(record, name)
    return fields


#: The JSON types of the record's fields as symbp writes them (a number may be an int or a float).
_TEXT, _COUNT, _NUMBER, _FLAG = (str,), (int,), (int, float), (bool,)
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {  # types, and whether null is allowed
    "kernel": (_TEXT, False), "kernel_sha256": (_TEXT, False), "data": (_TEXT, False), "data_sha256": (_TEXT, False),
    "target": (_TEXT, True), "steps": (_COUNT, False), "step_size": (_TEXT, False), "batch_size": (_COUNT, True),
    "seed": (_COUNT, False), "tol": (_NUMBER, False), "patience": (_COUNT, True), "standardize": (_FLAG, False),
    "divergence_factor": (_NUMBER, True), "output": (_TEXT, False), "trust": (_FLAG, False), "min_improvement": (_NUMBER, False),
    "validation": (_NUMBER, False), "validation_data": (_TEXT, False), "validation_sha256": (_TEXT, False),
}
#: Fields written only when the run has validation data.
_VALIDATION_FIELDS = ("validation", "validation_data", "validation_sha256")
_OPTIONAL_FIELDS = frozenset({"min_improvement", *_VALIDATION_FIELDS})


def _typed(raw: dict[str, Any], name: str) -> Any:
    """A field of the record, refused unless of the JSON type symbp writes for it (a bool is not a number here)."""
    value = raw[name]
    types, nullable = _FIELD_TYPES[name]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise ValueError(f"the setting {name!r} is {type(value).__name__}, not what symbp writes")
    return value


def _record(raw: dict[str, Any]) -> RunRecord:
    if not isinstance(raw, dict) or not set(_FIELDS) <= raw.keys() <= {*_FIELDS, *_OPTIONAL_FIELDS}:
        raise ValueError(f"the settings must have exactly the fields {sorted(_FIELDS)}")
    field = {name: _typed(raw, name) for name in raw}
    settings = RunSettings(
        steps=field["steps"], step_size=field["step_size"], batch_size=field["batch_size"], seed=field["seed"], grad_tol=field["tol"],
        patience=field["patience"], min_improvement=field.get("min_improvement", MIN_IMPROVEMENT),
        divergence_factor=field["divergence_factor"],
    )
    return RunRecord(
        kernel=field["kernel"], kernel_sha256=field["kernel_sha256"], data=field["data"], data_sha256=field["data_sha256"],
        target=field["target"], standardize=field["standardize"], output=field["output"], trust=field["trust"], settings=settings,
        **{name: field.get(name) for name in _VALIDATION_FIELDS},
    )


def _group(arrays: dict[str, np.ndarray], group: str, names: list[str]) -> Params:
    params = {}
    for name in names:
        value = arrays[f"{group}/{name}"]
        if value.dtype.kind != "f":
            raise ValueError(f"the array {group}/{name} has dtype {value.dtype}, not floating point")
        params[name] = value
    return params


def _numbers(arrays: dict[str, np.ndarray], name: str, kind: str) -> list:
    value = arrays[name]
    if value.ndim != 1 or value.dtype.kind != kind:
        raise ValueError(f"the array {name} is not a list of {'integers' if kind == 'i' else 'numbers'}")
    return value.tolist()


def _state(raw: dict[str, Any], arrays: dict[str, np.ndarray]) -> RunnerState:
    if not isinstance(raw, dict):
        raise ValueError("the state is not an object")
    names = raw["param_names"]
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise ValueError("param_names must be a list of distinct names")
    step = raw["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"the step must be an integer >= 0, not {step!r}")
    steps, losses = _numbers(arrays, "history_step", "i"), _numbers(arrays, "history_loss", "f")
    norms, gammas = _numbers(arrays, "history_grad_norm", "f"), _numbers(arrays, "history_gamma", "f")
    if not len(steps) == len(losses) == len(norms) == len(gammas) == step:
        raise ValueError(f"the history has {len(steps)} rows, but the run stopped at step {step}")
    history = tuple(HistoryRow(step=s, loss=loss, grad_norm=norm, gamma=gamma) for s, loss, norm, gamma in zip(steps, losses, norms, gammas))
    pending, last_gamma, position, has_previous = raw["pending"], raw["last_gamma"], raw["position"], raw["has_previous"]
    if pending is not None and not (isinstance(pending, dict) and all(_is_number(pending.get(key)) for key in ("loss", "norm_sq"))):
        raise ValueError("pending must be null or hold the numbers loss and norm_sq")
    if not (last_gamma is None or _is_number(last_gamma)) or not isinstance(has_previous, bool):
        raise ValueError("last_gamma must be a number or null, has_previous true or false")
    if isinstance(position, bool) or not isinstance(position, int):
        raise ValueError(f"position must be an integer, not {type(position).__name__}")
    order = arrays.get("order")
    if order is not None and (order.ndim != 1 or order.dtype.kind != "i"):
        raise ValueError("order must be a list of sample indices")
    rng = raw["rng"]
    if rng is not None:
        Batches(rng, None, 0, 1, 1)  # a state numpy's generators accept, or a UserError saying why not
    best_step = raw.get("best_step")
    if best_step is not None and (isinstance(best_step, bool) or not isinstance(best_step, int) or not 0 <= best_step < max(step, 1)):
        raise ValueError(f"best_step must be a step of the history or null, not {best_step!r}")
    return RunnerState(
        step=step,
        params=_group(arrays, "params", names),
        previous=_group(arrays, "previous", names) if has_previous else None,
        history=history,
        last_gamma=None if last_gamma is None else float(last_gamma),
        pending=None if pending is None else Evaluation(float(pending["loss"]), _group(arrays, "pending_grad", names), float(pending["norm_sq"])),
        rng=rng,
        order=order,
        position=position,
        memory=_memory(raw.get("memory"), arrays),
        watched=_watched(raw.get("watched_names"), arrays),
        best_step=best_step,
        best=_group(arrays, "best", names) if best_step is not None else None,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _watched(names: list[str] | None, arrays: dict[str, np.ndarray]) -> tuple[WatchRow, ...]:
    """The watched losses: their names from the JSON, steps and values from ``watched_step``, ``watched_loss``."""
    if names is None:
        return ()
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError("watched_names must be a list of names")
    steps, losses = _numbers(arrays, "watched_step", "i"), _numbers(arrays, "watched_loss", "f")
    if not len(names) == len(steps) == len(losses):
        raise ValueError("the watched losses' names, steps and values differ in number")
    return tuple(WatchRow(name, step, loss) for name, step, loss in zip(names, steps, losses))


def _memory(numbers: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """A step-size rule's memory: its numbers from the JSON, its arrays from ``memory/NAME``; None when it has none."""
    if numbers is None:
        return None
    if not isinstance(numbers, dict) or not all(_is_number(v) for v in numbers.values()):
        raise ValueError("the step-size rule's memory must map names to numbers")
    found = {name.removeprefix("memory/"): array for name, array in arrays.items() if name.startswith("memory/")}
    if any(array.dtype.kind != "f" for array in found.values()):
        raise ValueError("the step-size rule's memory arrays must be floating point")
    return {**numbers, **found}
