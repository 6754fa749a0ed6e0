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
from symbp.limits import check_declared_size
from symbp.training.heap import kept_heap
from symbp.training.rules import StepSize
from symbp.training.runner import run
from symbp.training.settings import DIVERGENCE_FACTOR, RunSettings, settings_from
from symbp.training.state import HistoryRow, RunnerState, RunResult, Watch

#: The names of the watched losses, as the history files call them.
FULL_LOSS = "full_loss"
VALIDATION_LOSS = "validation_loss"


def network_bytes(kernel: ModuleType, n: int, p: int) -> int:
    """About the memory a run of ``kernel`` on n samples of p inputs takes besides the data, from its declared sizes.

    The parameters and the arrays of the same size the runner keeps (the gradient, the previous point, a
    trial point, their flat copies: ten in all), and the kernel's per-block arrays (a few per layer).

    Example:
        >>> import types
        >>> network_bytes(types.SimpleNamespace(M=3, D=1, BLOCK=8192), n=100, p=2) // 8
        2530
    """
    hidden = tuple(kernel.M) if isinstance(kernel.M, (tuple, list)) else (kernel.M,)
    widths = (p, *hidden, kernel.D)
    parameters = sum(outer * (inner + 1) for inner, outer in zip(widths[:-1], widths[1:]))
    rows = min(n, int(getattr(kernel, "BLOCK", n)))
    return 8 * (10 * parameters + 6 * rows * sum(widths[1:]))


def check_network_size(kernel: ModuleType, n: int, p: int, source: str = "the data") -> None:
    """Refuse a run whose network (the kernel's declared sizes) needs more memory than the machine has, before any is allocated.

    Raises:
        UserError: naming the kernel's sizes and the memory needed.
    """
    check_declared_size(network_bytes(kernel, n, p), f"training the kernel's network (hidden {kernel.M}, d = {kernel.D}) on {source} (p = {p})", share=1.0)


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
    check_network_size(kernel, n, p, source)
    for what, array in (("inputs", X), ("targets", y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            raise DataError(f"{source}: {what} contain NaN or infinity at row {bad[0][0]} (0-based); clean the data first")
    check_ranges(kernel, source, float(np.max(np.abs(X))), float(np.max(np.abs(y))), float(np.min(y)), float(np.max(y)))
    return X, y


def _as_array(item: tuple[str, object]) -> tuple[str, np.ndarray]:
    return item[0], np.asarray(item[1])


def kernel_dtype(kernel: ModuleType) -> np.dtype:
    """The floating-point type a kernel computes in: its DTYPE (float32 kernels), else float64.

    Example:
        >>> import types
        >>> kernel_dtype(types.SimpleNamespace(DTYPE=np.float32)), kernel_dtype(types.SimpleNamespace())
        (dtype('float32'), dtype('float64'))
    """
    return np.dtype(getattr(kernel, "DTYPE", np.float64))


def in_kernel_dtype(kernel: ModuleType, X: np.ndarray, y: np.ndarray, source: str = "the data") -> tuple[np.ndarray, np.ndarray]:
    """Checked data converted once to the kernel's floating-point type (no copy for a float64 kernel).

    A float32 kernel would otherwise convert X and y on every step; converted here, a run does it once.

    Raises:
        DataError: a value beyond the type's range (float32: about 3.4e38), which the conversion would make infinite.
    """
    dtype = kernel_dtype(kernel)
    if X.dtype == dtype and y.dtype == dtype:
        return X, y
    with np.errstate(over="ignore"):
        X, y = X.astype(dtype), y.astype(dtype)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise DataError(
            f"{source}: values beyond {float(np.finfo(dtype).max):.3g} do not fit the kernel's {dtype}: rescale the data "
            "or emit the kernel with --dtype float64"
        )
    return X, y


#: The largest magnitude of a value of the data: squares and sums of a few thousand such values stay finite.
MAX_MAGNITUDE = 1e100


def check_ranges(kernel: ModuleType, source: str, x_peak: float, y_peak: float, y_low: float, y_high: float) -> None:
    """Refuse data whose values the kernel cannot use, from their extremes (computed here or summed up on a cluster).

    Args:
        kernel: the kernel (its loss decides the targets' range).
        source: the file, for messages.
        x_peak, y_peak: the largest |value| of the inputs and of the targets.
        y_low, y_high: the smallest and largest target.

    Raises:
        DataError: a value beyond :data:`MAX_MAGNITUDE` (it would overflow the network's arithmetic,
            or a saturating σ would hide it), or targets outside [0, 1] for the cross-entropy loss.

    Example:
        >>> import types
        >>> check_ranges(types.SimpleNamespace(SPEC={"loss": "quadratic"}), "d.csv", 1e308, 1.0, 0.0, 1.0)
        Traceback (most recent call last):
        ...
        symbp.errors.DataError: d.csv: the inputs reach 1e+308 in magnitude; values beyond 1e+100 overflow a network's arithmetic: rescale the data
    """
    for what, peak in (("inputs", x_peak), ("targets", y_peak)):
        if peak > MAX_MAGNITUDE:
            raise DataError(f"{source}: the {what} reach {peak:g} in magnitude; values beyond {MAX_MAGNITUDE:g} overflow a network's arithmetic: rescale the data")
    if getattr(kernel, "SPEC", {}).get("loss") == "softmax" and (y_low < 0 or y_high > 1):
        raise DataError(
            f"{source}: the targets range over [{y_low:g}, {y_high:g}], outside [0, 1]; the softmax classifier needs one-hot "
            "columns (or probabilities), or one column of class labels"
        )
    if getattr(kernel, "SPEC", {}).get("loss") == "bce" and (y_low < 0 or y_high > 1):
        raise DataError(
            f"{source}: the targets range over [{y_low:g}, {y_high:g}], outside [0, 1]; the cross-entropy loss needs labels 0/1 "
            "or probabilities (or emit a kernel with --loss quadratic)"
        )


def first_evaluation(loss_and_grad: Callable, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, source: str):
    """The kernel's first evaluation, with NumPy's overflow and invalid values as errors: data too large are refused.

    Later steps may overflow (a step too large): the runner then stops as diverged.  At the
    start, an overflow means the data do not fit a network at all, which a saturating σ would
    otherwise hide (tanh(inf) = 1: a finite loss, a zero gradient, a run that ends "well").

    Raises:
        DataError: the forward pass or the gradient overflows at the starting parameters.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            return loss_and_grad(params, X, y)
    except FloatingPointError as err:
        raise DataError(
            f"{source}: at the starting parameters the network's arithmetic overflows ({err}): the values of the data are "
            "too large for it; rescale them (or use --standardize)"
        ) from err


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
    source: str = "the data",
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
        source: names the data in messages (the file).

    With mini-batches, R on all the training data (``full_loss``) is watched once an epoch
    (every ⌈n / batch_size⌉ steps) and where the run stops: the history's own losses are those
    of the steps' batches.  Without validation data, ``patience`` then watches ``full_loss``,
    and the parameters handed back are those where it was lowest.

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
    X, y = in_kernel_dtype(kernel, *check_data(kernel, X, y, source), source)
    if state is not None:
        params = None  # the state carries the parameters
    else:
        params = params0 if params0 is not None else kernel.init_params(X.shape[1], seed=seed if settings is None else settings.seed)
        if params0 is not None and X.dtype != np.float64:
            # A float32 kernel's run keeps float32 parameters: a float64 starting point is rounded once, here.
            params = {name: value.astype(X.dtype) if value.dtype.kind == "f" else value for name, value in map(_as_array, params.items())}
    # The settings are checked after the data and a_0, so that mistakes are reported in the order they always were.
    keywords = dict(
        steps=steps, step_size=step_size, batch_size=batch_size, seed=seed, grad_tol=grad_tol, patience=patience,
        divergence_factor=divergence_factor,
    )
    settings = settings_from(train, settings, keywords)

    # X is used as given, without a copy in another order: a kernel's products W² Xᵀ and δᵀ X take a
    # block of rows in C order as it is (BLAS reads it transposed, no copy), and a Fortran-ordered copy
    # of X, once made here, took as much or more CPU per step at n = 10³ … 10⁶, besides its own time
    # and memory (benchmarks/dask_step.py --order); the answers are the same bits either way.
    Y = y[:, None] if y.ndim == 1 else y
    # The data are checked above and the parameters by the kernel on the first full-batch step;
    # the runner keeps their names, shapes and dtypes, so when they are of the kernel's type (what the
    # kernel's checks would make of them) later steps skip the checks.  Kernels emitted by an
    # older symbp have no _loss_and_grad_arrays and are always checked.
    unchecked = getattr(kernel, "_loss_and_grad_arrays", None)
    arrays = operator.itemgetter(*kernel.PARAMETERS)
    dtype = kernel_dtype(kernel)
    fast, first = False, True

    def objective(current: dict[str, np.ndarray], batch: np.ndarray | None) -> tuple[float, dict[str, np.ndarray]]:
        nonlocal fast, first
        # The first evaluation, whatever its batch, with overflows as errors (see first_evaluation).
        evaluate, first = (lambda *args: first_evaluation(kernel.loss_and_grad, *args, source)) if first else kernel.loss_and_grad, False
        if batch is not None:
            return evaluate(current, X[batch], y[batch])
        if fast:
            return unchecked(*arrays(current), X, Y)
        answer = evaluate(current, X, y)
        fast = unchecked is not None and all(a.dtype == dtype for a in current.values())
        return answer

    # The kernel's per-block temporaries stay on the heap from one block and step to the next (training/heap.py).
    with kept_heap():
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
        # Without validation data, R on all the training data is what patience watches and what chooses
        # the parameters handed back: a mini-batch's loss says little about either.
        watches.append(Watch(FULL_LOSS, lambda params: kernel.loss(params, X, y), every=-(-n // settings.batch_size), selects=validation is None))
    if validation is not None:
        X_val, y_val = in_kernel_dtype(kernel, *check_data(kernel, *validation, source="the validation data"), "the validation data")
        watches.append(Watch(VALIDATION_LOSS, lambda params: kernel.loss(params, X_val, y_val), selects=True))
    return tuple(watches)
