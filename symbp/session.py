"""What ``symbp train`` does, callable from Python: one training session, from a request to its files.

:func:`train_session` takes a :class:`SessionRequest` (the options of ``symbp
train``, as given) and does, in this order: reconcile a resumed run with its
checkpoint, load the kernel and the data (in this process, or partitioned on a
Dask cluster) and check them against the checkpoint's fingerprints, standardise,
check that every output can be written, train with SIGINT and SIGTERM turned
into a stop between two steps, and write the checkpoint (when stopped) or the
parameters, history and plot.  Every mistake is found before any work and
raised as a one-line :class:`~symbp.errors.UserError`; nothing is written then.
It prints nothing but the progress of the steps (on stderr, unless asked not
to): the :class:`SessionResult` holds what the command line reports.

Example:
    >>> import numpy as np, symbp, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> kernel = symbp.emit(symbp.derive(hidden=2), folder)
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> np.savez(os.path.join(folder, "data.npz"), X=X, y=X[:, 0] ** 2)
    >>> outcome = train_session(SessionRequest(kernel=kernel, data=os.path.join(folder, "data.npz"), steps=50,
    ...                                        output=os.path.join(folder, "run"), progress=False))
    >>> outcome.run.steps, outcome.params_path.name
    (50, 'run.params.npz')
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symbp.data import Standardizer, load
from symbp.data.split import holdout
from symbp.errors import UserError
from symbp.kernel.load import KernelSource, compile_kernel, read_kernel
from symbp.training.checkpoint import Checkpoint, RunRecord, check_keepable, data_sha256, load_checkpoint
from symbp.training.fit import check_data, train
from symbp.training.outputs import OutputPaths, keep_checkpoint, write_outputs
from symbp.training.plot import check_plot_path, plot_bytes
from symbp.training.progress import Progress, Silent
from symbp.training.rules import StepSize, parse_step_size
from symbp.training.settings import RunSettings
from symbp.training.signals import StopOnSignals
from symbp.training.state import RunResult, StopReason

__all__ = ["SessionRequest", "SessionResult", "train_session"]

FilePath = str | os.PathLike[str]


@dataclass(frozen=True)
class SessionRequest:
    """What ``symbp train`` is asked to do: its options as given, None for one left out.

    A new run needs ``kernel`` and ``data``; a setting left out takes the default
    of :class:`~symbp.training.settings.RunSettings`.  With ``resume`` the run goes on
    with everything saved in that checkpoint; a setting given again must equal the
    saved one, and ``kernel`` and ``data``, when given, must be the same files.

    Attributes:
        kernel: a kernel written by ``symbp emit``.
        data: the training data: ``.csv`` with a header, ``.npy`` or ``.npz``.
        target: the target column(s) of a CSV, comma separated; for ``.npy`` a column index.
        steps, step_size, batch_size, seed, patience: as for :class:`RunSettings`
            (``step_size`` as spelled for ``--step-size``, or a rule object with a spelling).
        tol: stop when ‖∇R‖ is at most this (``RunSettings.grad_tol``).
        validation: hold out this fraction (0 < f < 1) of the data's rows, chosen with ``seed``, as
            validation data: R on them is watched at every step, ``patience`` watches it, and the
            parameters saved are those where it was lowest.
        validation_data: validation data from a file of the same format and target instead.
        divergence_factor: a number >= 1, or ``"inf"`` for no bound but infinities and NaN.
        standardize: centre and scale the input columns (saved with the parameters).
        output: the prefix of ``PREFIX.params.npz`` and ``PREFIX.history.csv`` (default: the kernel's name).
        checkpoint: where an interrupted run saves its state (default ``PREFIX.checkpoint.npz``;
            when resuming, the file resumed from).
        resume: a checkpoint to go on from.
        trust: load the kernel even if it was edited by hand.
        dask: train on a Dask cluster: ``""`` starts a local one, ``"tcp://HOST:PORT"`` uses a running scheduler.
        progress: report the steps on stderr (a bar on a terminal, plain lines otherwise).
        plot: an image (``.png``, ``.pdf``, ``.svg``) of the loss and gradient-norm curves.
    """

    kernel: FilePath | None = None
    data: FilePath | None = None
    target: str | None = None
    steps: int | None = None
    step_size: str | float | StepSize | None = None
    batch_size: int | None = None
    seed: int | None = None
    tol: float | None = None
    patience: int | None = None
    validation: float | None = None
    validation_data: FilePath | None = None
    divergence_factor: str | float | None = None
    standardize: bool | None = None
    output: str | None = None
    checkpoint: FilePath | None = None
    resume: FilePath | None = None
    trust: bool | None = None
    dask: str | None = None
    progress: bool = True
    plot: FilePath | None = None


@dataclass(frozen=True, eq=False)
class SessionResult:
    """What a session did: the run's result and record, where its files are, and a signal that came.

    Attributes:
        run: the runner's result; ``run.reason`` is INTERRUPTED when a signal stopped it.
        record: what the run was started with (kernel, data, settings), as its checkpoint keeps it.
        params_path, history_path: the parameters and the history, written unless interrupted.
        checkpoint_path: the checkpoint, written when interrupted (and removed when a resumed run
            that was read from it finished).
        plot_path: the image of the curves, when one was asked for and the outputs were written.
        signal: the signal that interrupted the run, or one that came after the last step (the
            outputs were then written in full); None when there was none.
        failure: why the outputs (or the run's objective, e.g. a lost cluster) failed; "" when nothing did.
        checkpoint_written: whether a checkpoint was written (at ``checkpoint_path``): when the run
            was interrupted, its objective failed, or its outputs could not be written.
        kernel_path: the kernel that ran, as given (a resumed run names it again).
        final_loss: R of the parameters handed back on all the training data (whatever the batch
            size; without the rows held out for validation); None for a run that was not finished.
        validation_loss: R of those parameters on the validation data; None without them.
        n_train, n_validation: the numbers of training and validation rows.
    """

    run: RunResult
    record: RunRecord
    params_path: Path
    history_path: Path
    checkpoint_path: Path
    plot_path: Path | None
    signal: signal.Signals | None
    failure: str = ""
    checkpoint_written: bool = False
    kernel_path: Path | None = None
    final_loss: float | None = None
    validation_loss: float | None = None
    n_train: int = 0
    n_validation: int = 0

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped the run before its end (a checkpoint was written)."""
        return self.run.reason is StopReason.INTERRUPTED


def train_session(request: SessionRequest) -> SessionResult:
    """Do what ``symbp train`` does: train with a kernel on data, or go on with an interrupted run.

    Args:
        request: the options, as :class:`SessionRequest` describes them.

    Returns:
        A :class:`SessionResult`: the run, its record, the paths written and a signal that came.

    Raises:
        UserError: a mistake in the options, the data, the kernel or the checkpoint; nothing is written.
        KeyboardInterrupt: a second SIGINT while training.

    Example:
        >>> outcome = train_session(SessionRequest(resume="run.checkpoint.npz"))  # doctest: +SKIP
        >>> outcome.run.summary()                                                 # doctest: +SKIP
    """
    with ExitStack() as resources:  # closes a Dask client (and its local cluster) however the session ends
        plan = _plan(request)
        paths = OutputPaths.of(plan.prefix, plan.checkpoint_path, None if request.plot is None else check_plot_path(request.plot))
        paths.check({"KERNEL.py": plan.kernel_path, "--data": plan.data_path, "--validation-data": plan.validation_path, "--resume": plan.resume},
                    resumed=plan.resume is not None)
        inputs = _inputs(request, plan, resources)
        record = plan.saved.record if plan.saved is not None else _new_record(plan, inputs)
        inputs, extra = _standardized(inputs, record.standardize)
        if inputs.classes:  # the class names, kept with the parameters for predict and evaluate
            extra = {**extra, "classes": np.array(inputs.classes)}

        # The first signal is held until the results are written: one that comes after the last step
        # (or while saving) stops nothing, and the run's outputs are written in full (a second one
        # interrupts at once, as everywhere else).
        with StopOnSignals() as stop:
            result = _train(plan, inputs, stop, request.progress)
            saved = _save(plan, paths, record, result, extra, batch=not plan.settings.full_batch(inputs.sizes[0]))
        received = None if stop.received is None else signal.Signals(stop.received)
        return SessionResult(result, record, paths.params, paths.history, saved.checkpoint or paths.checkpoint,
                             paths.plot if saved.outputs else None, received, saved.failure, saved.checkpoint is not None,
                             plan.kernel_path, *_final_losses(inputs, result), *inputs.sizes)


@dataclass(frozen=True)
class _Saved:
    """What a session could write: the outputs, or a checkpoint (and why the outputs could not be written)."""

    outputs: bool
    checkpoint: Path | None
    failure: str


def _save(plan: _Plan, paths: OutputPaths, record: RunRecord, result: RunResult, extra: dict[str, np.ndarray], batch: bool) -> _Saved:
    """Write the outputs of a finished run as one unit, or a checkpoint of one that stopped early or could not be saved."""
    failure = result.detail if result.reason is StopReason.UNAVAILABLE else ""
    if result.reason not in (StopReason.INTERRUPTED, StopReason.UNAVAILABLE):
        try:
            plot = None if paths.plot is None else plot_bytes(result.history, paths.plot.suffix.lstrip(".").lower(), title=plan.kernel_path.stem,
                                                              watched=result.watched, batch=batch)
            write_outputs(paths, result.params, result.history, extra, plot, result.watched, batch)
        except UserError as err:
            failure = str(err)  # the disk is full, say: keep the trained state instead
        else:
            if plan.resume is not None and paths.checkpoint.resolve() == plan.resume.resolve():
                paths.checkpoint.unlink(missing_ok=True)  # the run is complete: its checkpoint has served
            return _Saved(True, None, "")
    where, why = keep_checkpoint(paths.checkpoint, Checkpoint(record, result.state))
    return _Saved(False, where, "; ".join(part for part in (failure, why) if part))


# --- the plan: a new run's settings, or a resumed run's, reconciled with the options ------------


@dataclass(frozen=True, eq=False)
class _Plan:
    """What the session works from once the options and a checkpoint are reconciled."""

    settings: RunSettings
    kernel_path: Path
    data_path: Path
    target: str | None
    trust: bool
    prefix: str
    checkpoint_path: Path
    resume: Path | None
    saved: Checkpoint | None  # the checkpoint resumed from
    standardize: bool
    validation: float | None = None  # the fraction of the rows held out
    validation_path: Path | None = None  # or the file of validation data


def _plan(request: SessionRequest) -> _Plan:
    """Reconcile the options with the checkpoint to resume from, or make a new run's settings."""
    factor = _divergence_factor(request.divergence_factor)
    given = _settings_given(request, factor)
    if request.resume is not None:
        # A resumed run keeps every setting it was started with: that is what makes it
        # end exactly as the uninterrupted run would.  Settings typed again must agree.
        resume = Path(request.resume)
        saved = load_checkpoint(resume)
        record = saved.record
        _check_unchanged(given, record, resume)
        if request.validation_data is not None and record.validation_data is None:
            raise UserError(f"--validation-data {request.validation_data}: the run saved in {resume} has no validation data; leave --validation-data out")
        # What code runs and where the outputs go come from the command line, never from the file:
        # the record's kernel path, prefix and trust flag are not used.
        if request.kernel is None:
            raise UserError(
                f"--resume {resume} needs the kernel on the command line: symbp train KERNEL.py --resume {resume} "
                f"(the run was started with {record.kernel})"
            )
        return _Plan(
            settings=record.settings, kernel_path=Path(request.kernel),
            data_path=Path(request.data if request.data is not None else record.data),
            target=record.target, trust=bool(request.trust), prefix=request.output or _prefix_of(resume),
            checkpoint_path=Path(request.checkpoint or resume), resume=resume, saved=saved, standardize=record.standardize,
            validation=record.validation,
            validation_path=Path(request.validation_data or record.validation_data) if record.validation_data is not None else None,
        )
    if request.kernel is None or request.data is None:
        raise UserError("train needs KERNEL.py and --data FILE (or --resume CHECKPOINT to go on with an interrupted run)")
    if request.validation is not None and request.validation_data is not None:
        raise UserError("give either --validation FRACTION (rows held out of --data) or --validation-data FILE, not both")
    if request.validation is not None and not 0 < request.validation < 1:
        raise UserError(f"--validation must be a fraction between 0 and 1 (e.g. 0.2), not {request.validation!r}")
    # The defaults for what was left out; an empty step size, seed or tolerance counts as left out.
    chosen = dict(
        steps=request.steps, step_size=request.step_size or None, batch_size=request.batch_size, seed=request.seed or None,
        grad_tol=request.tol or None, patience=request.patience,
    )
    chosen = {name: value for name, value in chosen.items() if value is not None}
    if request.divergence_factor is not None:
        chosen["divergence_factor"] = factor  # None for 'inf'
    settings = RunSettings(**chosen)
    check_keepable(settings)
    kernel_path = Path(request.kernel)
    prefix = request.output or kernel_path.stem
    return _Plan(
        settings=settings, kernel_path=kernel_path, data_path=Path(request.data), target=request.target,
        trust=bool(request.trust), prefix=prefix, checkpoint_path=Path(request.checkpoint or f"{prefix}.checkpoint.npz"),
        resume=None, saved=None, standardize=bool(request.standardize), validation=request.validation,
        validation_path=None if request.validation_data is None else Path(request.validation_data),
    )


def _prefix_of(checkpoint: Path) -> str:
    """The output prefix of a resumed run given no -o: the checkpoint's path less ``.checkpoint.npz`` (or ``.npz``)."""
    text = os.fspath(checkpoint)
    for suffix in (".checkpoint.npz", ".npz"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _divergence_factor(raw: str | float | None) -> float | None:
    """The divergence factor as RunSettings takes it (None for 'inf'), or a UserError for anything but a number >= 1."""
    if raw is None:
        return None
    try:
        factor = float(raw)
    except (TypeError, ValueError):
        factor = math.nan
    if not factor >= 1:
        raise UserError(f"--divergence-factor must be a number >= 1 or 'inf', not {raw!r}")
    return None if math.isinf(factor) else factor


def _settings_given(request: SessionRequest, factor: float | None) -> dict[str, tuple[Any, Any]]:
    """The settings given in the request, by their option's name: (as given, as a value comparable with a saved one)."""
    step_size = request.step_size and parse_step_size(request.step_size)
    candidates = (
        ("target", request.target, request.target), ("steps", request.steps, request.steps),
        ("step_size", request.step_size, step_size), ("batch_size", request.batch_size, request.batch_size),
        ("seed", request.seed, request.seed), ("tol", request.tol, request.tol), ("patience", request.patience, request.patience),
        ("standardize", request.standardize, request.standardize), ("divergence_factor", request.divergence_factor, factor),
        ("validation", request.validation, request.validation),
    )
    return {name: (raw, value) for name, raw, value in candidates if raw is not None}


def _check_unchanged(given: dict[str, tuple[Any, Any]], record: RunRecord, resume: Path) -> None:
    """Refuse a setting given again with another value than the run saved in ``resume``."""
    settings = record.settings
    saved = {
        "target": record.target, "steps": settings.steps, "step_size": settings.step_size, "batch_size": settings.batch_size,
        "seed": settings.seed, "tol": settings.grad_tol, "patience": settings.patience, "standardize": record.standardize,
        "divergence_factor": settings.divergence_factor, "validation": record.validation,
    }
    for name, (raw, value) in given.items():
        before = saved[name]
        if value != (settings.rule if name == "step_size" else before):
            flag = "--" + name.replace("_", "-")
            now = flag if raw is True else f"{flag} {raw}"
            shown = "inf" if name == "divergence_factor" and before is None else before
            raise UserError(
                f"{now} differs from the run saved in {resume} ({name}: {shown}); "
                f"a resumed run keeps the settings it was started with: leave {flag} out"
            )


# --- the inputs: the kernel, and the data here or on a cluster ---------------------------------


@dataclass(frozen=True, eq=False)
class _Inputs:
    """The loaded kernel and data, with their fingerprints: X and y here, or partitions on a cluster."""

    kernel: ModuleType
    source: KernelSource  # the kernel's text, as read and verified once
    data_sha256: str
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    client: Any = None  # a distributed.Client
    parts: Any = None  # symbp.cluster.Partitions
    classes: tuple[str, ...] = ()  # a softmax classifier's class labels, in the order of its outputs
    validation: tuple[np.ndarray, np.ndarray] | None = None  # (X, y) held out or read from their file
    validation_sha256: str | None = None

    @property
    def sizes(self) -> tuple[int, int]:
        """The numbers of training and validation rows."""
        n = self.parts.n if self.parts is not None else self.X.shape[0]
        return n, 0 if self.validation is None else self.validation[0].shape[0]


def _inputs(request: SessionRequest, plan: _Plan, resources: ExitStack) -> _Inputs:
    """Load the kernel and the data, and check them against the checkpoint's fingerprints."""
    saved = None if plan.saved is None else plan.saved.record
    source = read_kernel(plan.kernel_path, trust=plan.trust)
    if saved is not None and source.sha256 != saved.kernel_sha256:
        raise UserError(f"kernel {plan.kernel_path} is not the kernel the run in {plan.resume} was started with ({saved.kernel}); give that kernel")
    kernel = compile_kernel(source)
    targets = None if plan.target is None else [t.strip() for t in plan.target.split(",")]
    chosen = targets[0] if targets and len(targets) == 1 else targets
    if request.dask is not None:
        if plan.validation is not None or plan.validation_path is not None:
            raise UserError("--validation and --validation-data are not available with --dask: train here, or validate the saved parameters with symbp evaluate")
        # The data stay partitioned on the cluster; the client never holds them.
        from symbp.cluster import connect, read_data
        from symbp.cluster.objective import check_full_batch

        check_full_batch(plan.settings.batch_size)  # before starting a cluster
        client = resources.enter_context(connect(request.dask or None))
        if _labelled(kernel, chosen):
            raise UserError("class labels are not read on a Dask cluster; give one-hot target columns (--target a,b,c) or train without --dask")
        parts = read_data(client, plan.data_path, chosen)
        with open(plan.data_path, "rb") as stream:
            digest = "file:" + hashlib.file_digest(stream, "sha256").hexdigest()
        inputs = _Inputs(kernel, source, digest, client=client, parts=parts)
    else:
        data = load(plan.data_path, chosen, labels=_labelled(kernel, chosen))
        if data.classes and len(data.classes) != kernel.D:
            raise UserError(
                f"{plan.data_path}: {len(data.classes)} classes ({', '.join(data.classes)}) for a kernel with {kernel.D} outputs; "
                f"emit one with --outputs {len(data.classes)}"
            )
        X, y = check_data(kernel, data.X, data.y, source=str(plan.data_path))
        inputs = _validation(plan, chosen, _Inputs(kernel, source, data_sha256(X, y), X=X, y=y, classes=data.classes))
    if saved is not None and inputs.data_sha256 != saved.data_sha256:
        raise UserError(
            f"the data in {plan.data_path} (target {plan.target!r}) differ from those the run in {plan.resume} "
            f"was started with ({saved.data}); give those data"
        )
    if saved is not None and inputs.validation_sha256 != saved.validation_sha256:
        raise UserError(
            f"the validation data in {plan.validation_path} differ from those the run in {plan.resume} "
            f"was started with ({saved.validation_data}); give those data"
        )
    return inputs


def _validation(plan: _Plan, target: str | list[str] | None, inputs: _Inputs) -> _Inputs:
    """The inputs with their validation data: rows held out of the data (seeded), or read from their file."""
    if plan.validation is not None:
        X, y, X_val, y_val = holdout(inputs.X, inputs.y, plan.validation, plan.settings.seed, str(plan.data_path))
        return replace(inputs, X=X, y=y, validation=(X_val, y_val))
    if plan.validation_path is not None:
        # Class labels are encoded with the training data's classes, so that the outputs mean the same.
        labels = inputs.classes if inputs.classes else False
        data = load(plan.validation_path, target, check_targets=False, labels=labels)
        X_val, y_val = check_data(inputs.kernel, data.X, data.y, source=str(plan.validation_path))
        return replace(inputs, validation=(X_val, y_val), validation_sha256=data_sha256(X_val, y_val))
    return inputs


def _labelled(kernel: ModuleType, chosen: object) -> bool:
    """A softmax classifier given one target column: it holds class labels, which symbp one-hot encodes."""
    return kernel.SPEC.get("loss") == "softmax" and isinstance(chosen, str)


def _new_record(plan: _Plan, inputs: _Inputs) -> RunRecord:
    """A new run's record, with absolute paths so that it can be resumed from another folder."""
    return RunRecord(
        kernel=str(plan.kernel_path.resolve()), kernel_sha256=inputs.source.sha256, data=str(plan.data_path.resolve()),
        data_sha256=inputs.data_sha256, target=plan.target, standardize=plan.standardize,
        output=str(Path(plan.prefix).resolve()), trust=plan.trust, settings=plan.settings, validation=plan.validation,
        validation_data=None if plan.validation_path is None else str(plan.validation_path.resolve()),
        validation_sha256=inputs.validation_sha256,
    )


def _standardized(inputs: _Inputs, standardize: bool) -> tuple[_Inputs, dict[str, np.ndarray]]:
    """The inputs with centred and scaled columns when asked, and the arrays to save beside the parameters."""
    if not standardize:
        return inputs, {}
    if inputs.parts is not None:
        from symbp.cluster import standardize as standardize_partitions

        parts, scaler = standardize_partitions(inputs.parts)
        inputs = replace(inputs, parts=parts)
    else:
        scaler = Standardizer.fit(inputs.X)  # on the training rows alone: validation data stay unseen
        validation = None if inputs.validation is None else (scaler.transform(inputs.validation[0]), inputs.validation[1])
        inputs = replace(inputs, X=scaler.transform(inputs.X), validation=validation)
    return inputs, {"x_mean": scaler.mean, "x_scale": scaler.scale}


# --- training ----------------------------------------------------------------------------------


def _train(plan: _Plan, inputs: _Inputs, stop: StopOnSignals, report_progress: bool) -> RunResult:
    """The run, here or on the cluster, asked between two steps whether a signal came."""
    state = None if plan.saved is None else plan.saved.state
    first = 0 if state is None else state.step
    with Progress(plan.settings.steps, first_step=first) if report_progress else Silent() as progress:
        if inputs.parts is not None:
            from symbp.cluster.objective import train_on_cluster

            return train_on_cluster(
                inputs.source, inputs.parts, inputs.client, trust=plan.trust, settings=plan.settings,
                stop_requested=stop.requested, state=state, callback=progress,
            )
        return train(inputs.kernel, inputs.X, inputs.y, settings=plan.settings, stop_requested=stop.requested, state=state, callback=progress,
                     validation=inputs.validation, source=str(plan.data_path))


def _final_losses(inputs: _Inputs, result: RunResult) -> tuple[float | None, float | None]:
    """R of the parameters handed back on all the training data, and on the validation data (None without).

    The history's last loss is that of a mini-batch when the steps see mini-batches, and of other
    parameters than those handed back when validation chose them: the summary reports these instead.
    None for a run that stopped before its end (its parameters are not evaluated yet).
    """
    if result.reason in (StopReason.INTERRUPTED, StopReason.UNAVAILABLE):
        return None, None
    if inputs.parts is not None:  # full batch on the cluster: the history's loss is R on all the data
        return result.final_loss, None
    with np.errstate(all="ignore"):  # a run diverged at the start: its loss is inf, as the history says
        final = float(inputs.kernel.loss(result.params, inputs.X, inputs.y))
        validation = None if inputs.validation is None else float(inputs.kernel.loss(result.params, *inputs.validation))
    return final, validation
