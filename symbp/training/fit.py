"""Training a network with a generated kernel: the data side of the runner.

:func:`train` adapts a kernel and a data set to the generic runner
(:func:`symbp.training.runner.run`), which itself knows nothing about networks;
it also checks that the data fit the kernel before any work is done.  A run can
be stopped between steps and resumed from its state (see
:mod:`symbp.training.checkpoint` for saving that state to a file).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import ModuleType

import numpy as np

from symbp.errors import DataError
from symbp.training.rules import StepSize
from symbp.training.runner import run
from symbp.training.settings import DIVERGENCE_FACTOR, RunSettings, settings_from
from symbp.training.state import HistoryRow, RunnerState, RunResult, Watch

#: The names of the watched losses, as the history files call them.
FULL_LOSS = "full_loss"
VALIDATION_LOSS = "validation_loss"


def check_data(kernel: ModuleType, X: np.ndarray, y: np.ndarray, source: str = "the data") -> tuple[np.ndarray, np.ndarray]:
    """X as (n, p) float64 and y as (n,) or (n, D), or a DataError saying what does not fit the kernel."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2:
        raise DataError(f"{source}: inputs have shape {X.shape}; expected (n, p), one row per sample")
    n, p = X.shape
    if n == 0:
        raise DataError(f"{source}: there are no samples (n = 0)")
    if kernel.P is not None and p != kernel.P:
        raise DataError(f"{source} has p = {p} input columns, but the kernel was built for p = {kernel.P}; emit a kernel with --inputs {p} (or without --inputs)")
    if y.shape[0] != n:
        raise DataError(f"{source}: {y.shape[0]} targets for {n} samples")
    d = 1 if y.ndim == 1 else y.shape[1]
    if y.ndim > 2 or d != kernel.D:
        raise DataError(f"{source} has {d} target column(s), but the kernel has d = {kernel.D} outputs")
    for what, array in (("inputs", X), ("targets", y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            raise DataError(f"{source}: {what} contain NaN or infinity at row {bad[0][0]} (0-based); clean the data first")
    if getattr(kernel, "SPEC", {}).get("loss") == "bce":
        outside = np.argwhere((y < 0) | (y > 1))
        if outside.size:
            row = outside[0][0]
            raise DataError(
                f"{source}: target {float(y[tuple(outside[0])]):g} at row {row} (0-based) "
                "is outside [0, 1]; the cross-entropy loss needs labels 0/1 or probabilities (or emit a kernel with --loss quadratic)"
            )
    return X, y


def train(
    kernel: ModuleType,
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = 1000,
    step_size: StepSize | str | float = "armijo",
    batch_size: int | None = None,
    seed: int = 0,
    grad_tol: float = 0.0,
    patience: int | None = None,
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    params0: dict[str, np.ndarray] | None = None,
    callback: Callable[[HistoryRow], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    state: RunnerState | None = None,
    settings: RunSettings | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> RunResult:
    """Gradient descent on R for a generated kernel and data (X, y).

    Args:
        kernel: a module from :func:`symbp.load_kernel`.
        X: inputs (n, p); y: targets (n,) or (n, d).
        steps: largest number of gradient steps.
        step_size: ``"armijo"``, a number, ``"constant:0.01"``, ``"decay:0.1,100"`` or a rule object.
        batch_size: mini-batch size (None: full batch).
        seed: seeds the initial parameters and the mini-batch shuffling.
        grad_tol: stop when ‖∇R‖ ≤ grad_tol.
        patience: stop when the loss has not improved for this many steps.
        divergence_factor: stop as diverged once R exceeds this multiple of
            max(1, |R(a_0)|) (default 10⁶); None stops only on inf or NaN.  A
            diverged run returns the best parameters seen (see ``result.best_step``).
        params0: starting parameters (default ``kernel.init_params(p, seed)``).
        callback: called with each history row as it is recorded.
        stop_requested: asked after each step whether to stop; if so the result
            is INTERRUPTED and ``result.state`` holds the run's whole state.
        state: such a state, to go on from (with the same settings) instead of
            starting afresh; the run then ends bit for bit as if never stopped.
        settings: ``steps`` … ``divergence_factor`` (and ``min_improvement``) as one
            :class:`~symbp.training.settings.RunSettings`, instead of the keywords.
        validation: held-out data (X_val, y_val): R on them (``validation_loss``) is watched at
            every step, ``patience`` watches it, and the parameters handed back are those where it
            was lowest (early stopping).

    With mini-batches, R on all the training data (``full_loss``) is watched once an epoch
    (every ⌈n / batch_size⌉ steps) and where the run stops: the history's own losses are those
    of the steps' batches.

    Returns:
        The runner's :class:`~symbp.training.state.RunResult` (``.params``, ``.history``, ``.reason``,
        ``.watched``: the watched losses).

    Example:
        >>> import symbp, numpy as np, tempfile
        >>> k = symbp.load_kernel(symbp.emit(symbp.derive(hidden=2), tempfile.mkdtemp()))
        >>> X = np.linspace(-1, 1, 20)[:, None]; y = X[:, 0] ** 2
        >>> bool(symbp.train(k, X, y, steps=200).final_loss < np.sum((y - y.mean()) ** 2))
        True
    """
    X, y = check_data(kernel, X, y)
    if state is not None:
        params = None  # the state carries the parameters
    else:
        params = params0 if params0 is not None else kernel.init_params(X.shape[1], seed=seed if settings is None else settings.seed)
    # The settings are checked after the data and a_0, so that mistakes are reported in the order they always were.
    keywords = dict(
        steps=steps, step_size=step_size, batch_size=batch_size, seed=seed, grad_tol=grad_tol, patience=patience,
        divergence_factor=divergence_factor,
    )
    settings = settings_from(train, settings, keywords)

    # The kernels read X column by column (the product W² Xᵀ): on the full batch, one
    # Fortran-ordered copy made here saves a transposition in every step.
    full = np.asfortranarray(X) if settings.full_batch(X.shape[0]) else X
    Y = y[:, None] if y.ndim == 1 else y
    # The data are checked above and the parameters by the kernel on the first full-batch step;
    # the runner keeps their names, shapes and dtypes, so when they are float64 (what the
    # kernel's checks would make of them) later steps skip the checks.  Kernels emitted by an
    # older symbp have no _loss_and_grad_arrays and are always checked.
    unchecked = getattr(kernel, "_loss_and_grad_arrays", None)
    arrays = operator.itemgetter(*kernel.PARAMETERS)
    fast = False

    def objective(current: dict[str, np.ndarray], batch: np.ndarray | None) -> tuple[float, dict[str, np.ndarray]]:
        nonlocal fast
        if batch is not None:
            return kernel.loss_and_grad(current, X[batch], y[batch])
        if fast:
            return unchecked(*arrays(current), full, Y)
        answer = kernel.loss_and_grad(current, full, y)
        fast = unchecked is not None and all(a.dtype == np.float64 for a in current.values())
        return answer

    return run(
        objective, params, settings=settings, n_samples=X.shape[0], callback=callback, stop_requested=stop_requested, state=state,
        watches=watches_for(kernel, X, y, settings, validation),
    )


def watches_for(kernel: ModuleType, X: np.ndarray, y: np.ndarray, settings: RunSettings, validation: tuple[np.ndarray, np.ndarray] | None) -> tuple[Watch, ...]:
    """The losses a run of ``kernel`` on (X, y) watches: R on all the data once an epoch when the steps see
    mini-batches, and R on validation data (selecting the parameters handed back) when given.
    """
    watches = []
    n = X.shape[0]
    if not settings.full_batch(n):
        watches.append(Watch(FULL_LOSS, lambda params: kernel.loss(params, X, y), every=-(-n // settings.batch_size)))
    if validation is not None:
        X_val, y_val = check_data(kernel, *validation, source="the validation data")
        watches.append(Watch(VALIDATION_LOSS, lambda params: kernel.loss(params, X_val, y_val), selects=True))
    return tuple(watches)
