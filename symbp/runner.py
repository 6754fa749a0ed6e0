"""Gradient descent on any objective: the last stage of the pipeline.

The runner knows nothing about networks.  It is given an objective that maps
parameters (a dict of float arrays, treated as one flat vector a) and a batch
to ``(loss, grad)``, a starting point a_0 and a step-size rule, and iterates

    a_{l+1} = a_l - γ_l ∇R(a_l)

until a stop rule fires.  Step-size rules are small frozen dataclasses
(:class:`Constant`, :class:`Decaying`, :class:`Armijo`); :func:`parse_step_size`
turns the command-line spelling into one of them.

Example:
    >>> import numpy as np
    >>> def objective(params, batch):  # R(a) = ½‖a − 1‖²
    ...     r = params["a"] - 1.0
    ...     return 0.5 * float(r @ r), {"a": r}
    >>> result = run(objective, {"a": np.zeros(3)}, steps=100, step_size="armijo", grad_tol=1e-10)
    >>> result.reason
    <StopReason.GRAD_TOL: 'gradient norm below tolerance'>
    >>> np.allclose(result.params["a"], 1.0)
    True
"""

from __future__ import annotations

import enum
import math
import numbers
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from symbp.errors import SpecError, UserError

__all__ = [
    "Armijo",
    "Constant",
    "Decaying",
    "HistoryRow",
    "Objective",
    "Params",
    "RunResult",
    "StepSize",
    "StopReason",
    "parse_step_size",
    "run",
]

Params = dict[str, np.ndarray]
Objective = Callable[[Params, np.ndarray | None], tuple[float, Params]]


# --- step-size rules -------------------------------------------------------------


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _require_positive(rule: str, name: str, value: float) -> None:
    if not (_is_real(value) and value > 0):
        raise SpecError(f"{rule}: {name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Constant:
    """The same step size γ_l = gamma at every step.

    Example: ``Constant(0.01)``; on the command line ``constant:0.01`` or ``0.01``.
    """

    gamma: float

    def __post_init__(self) -> None:
        _require_positive("Constant", "gamma", self.gamma)


@dataclass(frozen=True)
class Decaying:
    """A step size that shrinks with the step index: γ_l = gamma0 / (1 + l / tau).

    Example: ``Decaying(0.1, 100)`` halves γ after 100 steps; ``decay:0.1,100``.
    """

    gamma0: float
    tau: float

    def __post_init__(self) -> None:
        _require_positive("Decaying", "gamma0", self.gamma0)
        _require_positive("Decaying", "tau", self.tau)

    def gamma(self, step: int) -> float:
        """Return γ_l for step index ``step`` (counting from 0)."""
        return self.gamma0 / (1.0 + step / self.tau)


@dataclass(frozen=True)
class Armijo:
    """Backtracking line search with the Armijo (sufficient decrease) condition.

    Each step tries γ = min(gamma0, grow · last accepted γ) (gamma0 at the first
    step) and multiplies it by ``shrink`` until
    R(a − γ g) <= R(a) − c γ ‖g‖², at most ``max_backtracks`` times.  On a
    mini-batch the trial points are evaluated on the same batch as g.

    The trial must also lower the loss strictly, which differs from the plain
    condition only where c γ ‖g‖² is below rounding.  When no γ passes (on a
    smooth objective, once the loss is as low as floating point can resolve),
    :func:`run` stops with ``StopReason.NO_IMPROVEMENT`` on the full batch and
    skips the step on a mini-batch.

    Example: ``Armijo()`` or ``Armijo(gamma0=0.5)``; ``armijo`` or ``armijo:0.5``.
    """

    gamma0: float = 1.0
    c: float = 1e-4
    shrink: float = 0.5
    grow: float = 2.0
    max_backtracks: int = 60

    def __post_init__(self) -> None:
        _require_positive("Armijo", "gamma0", self.gamma0)
        if not (_is_real(self.c) and 0 < self.c < 1):
            raise SpecError(f"Armijo: c must lie strictly between 0 and 1, got {self.c!r}")
        if not (_is_real(self.shrink) and 0 < self.shrink < 1):
            raise SpecError(f"Armijo: shrink must lie strictly between 0 and 1, got {self.shrink!r}")
        if not (_is_real(self.grow) and self.grow >= 1):
            raise SpecError(f"Armijo: grow must be a finite number >= 1, got {self.grow!r}")
        if isinstance(self.max_backtracks, bool) or not isinstance(self.max_backtracks, int) or self.max_backtracks < 0:
            raise SpecError(f"Armijo: max_backtracks must be an integer >= 0, got {self.max_backtracks!r}")


StepSize = Constant | Decaying | Armijo

_STEP_SIZE_FORMS = "'armijo', 'armijo:GAMMA0', 'constant:GAMMA', a bare number GAMMA, or 'decay:GAMMA0,TAU'"


def parse_step_size(text: str | float | StepSize) -> StepSize:
    """Turn the command-line spelling of a step-size rule into a rule object.

    Args:
        text: ``"armijo"``, ``"armijo:0.5"`` (γ0), ``"constant:0.01"`` or a bare
            number (``"0.01"`` or ``0.01``), ``"decay:0.1,100"`` (γ0, τ); a rule
            object is returned unchanged.  Case and surrounding spaces are ignored.

    Returns:
        The :class:`Constant`, :class:`Decaying` or :class:`Armijo` rule.

    Raises:
        SpecError: the text is none of the forms above or a number is not positive.

    Example:
        >>> parse_step_size("decay:0.1,100")
        Decaying(gamma0=0.1, tau=100.0)
    """
    if isinstance(text, (Constant, Decaying, Armijo)):
        return text
    bad = SpecError(f"invalid step size {text!r}: use {_STEP_SIZE_FORMS}, with positive finite numbers")
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        values, kind = [float(text)], "constant"
    elif isinstance(text, str):
        kind, sep, rest = text.strip().lower().partition(":")
        kind = kind.strip()
        try:
            if not sep and kind not in ("armijo", "constant", "decay"):
                values, kind = [float(kind)], "constant"  # a bare number
            else:
                values = [float(part) for part in rest.split(",")] if sep else []
        except ValueError:
            raise bad from None
    else:
        raise bad
    if not all(math.isfinite(x) and x > 0 for x in values):
        raise bad
    if kind == "armijo" and len(values) <= 1:
        return Armijo(*values)
    if kind == "constant" and len(values) == 1:
        return Constant(values[0])
    if kind == "decay" and len(values) == 2:
        return Decaying(values[0], values[1])
    raise bad


# --- what a run hands back -------------------------------------------------------


class StopReason(enum.Enum):
    """Why :func:`run` stopped; the value is a phrase for messages."""

    MAX_STEPS = "reached the step limit"
    GRAD_TOL = "gradient norm below tolerance"
    NO_IMPROVEMENT = "loss stopped improving"
    DIVERGED = "loss or gradient became infinite or NaN (try a smaller step size)"


@dataclass(frozen=True)
class HistoryRow:
    """One evaluated point a_l.

    ``loss`` and ``grad_norm`` (‖∇R(a_l)‖₂ over all arrays) are on the batch of
    step l; ``gamma`` is the step size used to leave a_l, and 0.0 on the last
    row (where the run stopped) or when a line search found no acceptable step.
    """

    step: int
    loss: float
    grad_norm: float
    gamma: float


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`run`.

    ``params`` is the final a_l; ``history`` has one row per evaluated point,
    ``steps + 1`` rows in all, the last describing ``params``; ``steps`` counts
    the updates applied.
    """

    params: Params
    history: tuple[HistoryRow, ...]
    reason: StopReason
    steps: int

    @property
    def final_loss(self) -> float:
        """The loss at the returned parameters (on the last batch when mini-batching)."""
        return self.history[-1].loss

    def summary(self) -> str:
        """Return one line: how many steps, the final loss, and why the run stopped."""
        return f"stopped after {self.steps} steps with loss {self.final_loss:.6g}: {self.reason.value}"


# --- the loop --------------------------------------------------------------------


def _as_int(name: str, value: object, minimum: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        result = operator.index(value)  # accepts int and numpy integers, not floats
    except TypeError:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if result < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return result


def _copy_params(params0: Params) -> Params:
    if not isinstance(params0, dict) or not params0:
        raise UserError("params0 must be a non-empty dict of parameter name -> float array")
    params: Params = {}
    for name, value in params0.items():
        array = np.array(value, copy=True)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        elif array.dtype.kind != "f":
            raise UserError(f"parameter {name!r} must be a real float array, got dtype {array.dtype}")
        params[name] = array
    return params


def _evaluate(objective: Objective, params: Params, batch: np.ndarray | None) -> tuple[float, Params, float]:
    """Call the objective, check its answer against ``params``; return (loss, grad, ‖grad‖²)."""
    answer = objective(params, batch)
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], dict)):
        raise UserError(f"the objective must return (loss, grad dict), got {type(answer).__name__}")
    raw_loss, raw_grad = answer
    try:
        loss = float(raw_loss)
    except (TypeError, ValueError):
        raise UserError(f"the objective's loss must be a scalar, got {type(raw_loss).__name__}") from None
    if raw_grad.keys() != params.keys():
        missing, extra = sorted(params.keys() - raw_grad.keys()), sorted(raw_grad.keys() - params.keys())
        raise UserError(f"gradient keys differ from parameter keys: missing {missing}, unexpected {extra}")
    grad: Params = {}
    norm_sq = 0.0
    for name, value in params.items():
        g = np.asarray(raw_grad[name])
        if g.shape != value.shape:
            raise UserError(f"gradient {name!r} has shape {g.shape} but the parameter has shape {value.shape}")
        grad[name] = g
        flat = g.ravel()
        norm_sq += float(flat @ flat)
    return loss, grad, norm_sq


def _step(params: Params, grad: Params, gamma: float) -> Params:
    # New arrays every step (never in place), cast back so float32 stays float32.
    return {name: (a - gamma * grad[name]).astype(a.dtype, copy=False) for name, a in params.items()}


def _batches(n_samples: int | None, batch_size: int | None, seed: int) -> Iterator[np.ndarray | None]:
    if batch_size is None or (n_samples is not None and batch_size >= n_samples):
        while True:
            yield None
    assert n_samples is not None
    rng = np.random.default_rng(seed)  # one generator for the whole run: epochs differ, runs repeat
    while True:
        order = rng.permutation(n_samples)
        for start in range(0, n_samples, batch_size):
            yield order[start : start + batch_size]  # the last, partial batch is kept


def _line_search(
    objective: Objective,
    rule: Armijo,
    params: Params,
    grad: Params,
    loss: float,
    norm_sq: float,
    batch: np.ndarray | None,
    start: float,
) -> tuple[float, Params, tuple[float, Params, float]] | None:
    """Backtrack from γ = start; return (γ, a − γ g, evaluation there), or None if no γ passes."""
    gamma = start
    for _ in range(rule.max_backtracks + 1):
        candidate = _step(params, grad, gamma)
        answer = _evaluate(objective, candidate, batch)  # the same batch as g
        # `<=` is False for NaN, so a trial that blows up just backtracks.  The strict
        # `<` matters only when c·γ·‖g‖² vanishes in rounding: then `<=` alone would
        # accept points that do not lower the loss, and the run would stall there.
        trial_loss = answer[0]
        if trial_loss <= loss - rule.c * gamma * norm_sq and trial_loss < loss:
            return gamma, candidate, answer
        gamma *= rule.shrink
    return None


def run(
    objective: Objective,
    params0: Params,
    *,
    steps: int,
    step_size: StepSize | str | float = "armijo",
    grad_tol: float = 0.0,
    patience: int | None = None,
    min_improvement: float = 1e-10,
    n_samples: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    callback: Callable[[HistoryRow], None] | None = None,
) -> RunResult:
    """Minimise ``objective`` by gradient descent a_{l+1} = a_l − γ_l ∇R(a_l).

    At each step l the objective is evaluated at a_l on the step's batch and a
    :class:`HistoryRow` is recorded.  The run stops, in this order of checks,
    when the loss or gradient is not finite (DIVERGED), when ‖∇R(a_l)‖ <=
    ``grad_tol`` (GRAD_TOL), when ``patience`` is given and the best loss seen
    has not fallen by more than ``min_improvement · max(1, |best|)`` over the
    last ``patience`` steps (NO_IMPROVEMENT; also when an :class:`Armijo`
    search on the full batch finds no step that lowers the loss), or when
    ``steps`` updates have been applied (MAX_STEPS).  With mini-batches the
    loss, gradient norm and these checks are those of the step's batch.  The
    same call gives bit-identical results.

    Args:
        objective: ``objective(params, batch) -> (loss, grad)``, grad with the
            keys and shapes of params; batch is None (full batch) or an int array
            of sample indices.  It must not modify the arrays it is given.
        params0: the starting point a_0; it is copied, never modified.
        steps: the most updates to apply (>= 0).
        step_size: a rule object or its spelling for :func:`parse_step_size`.
        grad_tol: stop once the gradient norm is at most this.
        patience: steps without sufficient improvement before stopping; None never stops.
        min_improvement: relative decrease of the best loss that counts as improvement.
        n_samples: how many samples the objective's data holds (needed for mini-batches).
        batch_size: samples per batch; None or >= n_samples means full batch.
        seed: seeds the shuffling of mini-batches (one permutation per epoch).
        callback: called with each row as it is recorded.

    Returns:
        A :class:`RunResult` with the final parameters, the history and the stop reason.

    Raises:
        SpecError: a setting is invalid.  UserError: the objective's answer does not fit params.

    Example:
        >>> def objective(params, batch):  # R(a) = ½‖a − 2‖²
        ...     r = params["a"] - 2.0
        ...     return 0.5 * float(r @ r), {"a": r}
        >>> result = run(objective, {"a": np.zeros(2)}, steps=3, step_size="constant:0.5")
        >>> result.params["a"]
        array([1.75, 1.75])
        >>> print(result.summary())
        stopped after 3 steps with loss 0.0625: reached the step limit
    """
    # --- check the settings ---
    rule = parse_step_size(step_size)
    steps = _as_int("steps", steps, 0)
    if patience is not None:
        patience = _as_int("patience", patience, 1)
    if not (_is_real(grad_tol) and grad_tol >= 0):
        raise SpecError(f"grad_tol must be a finite number >= 0, got {grad_tol!r}")
    if not (_is_real(min_improvement) and min_improvement >= 0):
        raise SpecError(f"min_improvement must be a finite number >= 0, got {min_improvement!r}")
    if n_samples is not None:
        n_samples = _as_int("n_samples", n_samples, 1)
    if batch_size is not None:
        batch_size = _as_int("batch_size", batch_size, 1)
        if n_samples is None:
            raise SpecError("batch_size needs n_samples (the number of samples) to form mini-batches")
    seed = _as_int("seed", seed, 0)
    full_batch = batch_size is None or batch_size >= n_samples  # type: ignore[operator]

    params = _copy_params(params0)
    batches = _batches(n_samples, batch_size, seed)
    history: list[HistoryRow] = []
    best: list[float] = []  # best[l] = lowest loss among rows 0..l
    last_gamma: float | None = None  # Armijo: the last accepted step size
    cached: tuple[float, Params, float] | None = None  # full-batch Armijo: R and ∇R at a_{l+1}

    step = 0
    while True:
        # --- evaluate at a_l ---
        batch = next(batches)
        loss, grad, norm_sq = cached if cached is not None else _evaluate(objective, params, batch)
        cached = None
        grad_norm = math.sqrt(norm_sq)
        best.append(min(best[-1], loss) if best else loss)

        # --- stop rules, checked before stepping ---
        reason: StopReason | None = None
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            reason = StopReason.DIVERGED
        elif grad_norm <= grad_tol:
            reason = StopReason.GRAD_TOL
        elif patience is not None and step >= patience:
            before = best[step - patience]
            if before - best[step] <= min_improvement * max(1.0, abs(before)):
                reason = StopReason.NO_IMPROVEMENT
        if reason is None and step >= steps:
            reason = StopReason.MAX_STEPS

        # --- choose γ_l and step ---
        gamma = 0.0
        new_params = params
        if reason is None:
            if isinstance(rule, Constant):
                gamma = rule.gamma
                new_params = _step(params, grad, gamma)
            elif isinstance(rule, Decaying):
                gamma = rule.gamma(step)
                new_params = _step(params, grad, gamma)
            else:
                start = rule.gamma0 if last_gamma is None else min(rule.gamma0, rule.grow * last_gamma)
                found = _line_search(objective, rule, params, grad, loss, norm_sq, batch, start)
                if found is not None:
                    gamma, new_params, answer = found
                    last_gamma = gamma
                    cached = answer if full_batch else None  # R and ∇R at a_{l+1}: reuse them
                elif full_batch:
                    # No useful γ; from the same point on the same data a retry finds none either.
                    reason = StopReason.NO_IMPROVEMENT
                # On a mini-batch, skip the step: the next batch may allow one.

        row = HistoryRow(step=step, loss=loss, grad_norm=grad_norm, gamma=gamma)
        history.append(row)
        if callback is not None:
            callback(row)
        if reason is not None:
            return RunResult(params=params, history=tuple(history), reason=reason, steps=step)
        params = new_params
        step += 1
