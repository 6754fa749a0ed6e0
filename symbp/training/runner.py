"""Gradient descent on any objective: the last stage of the pipeline.

The runner knows nothing about networks.  It is given an objective that maps
parameters (a dict of float arrays, treated as one flat vector a) and a batch
to ``(loss, grad)``, a starting point a_0 and a step-size rule, and iterates

    a_{l+1} = a_l - γ_l ∇R(a_l)

until a stop rule fires.  Step-size rules are small frozen dataclasses
(:class:`Constant`, :class:`Decaying`, :class:`Armijo`); :func:`parse_step_size`
turns the command-line spelling into one of them.

A run's whole state is a value, :class:`RunnerState`: a run asked to stop
(``stop_requested``) hands it back, and ``run(..., state=...)`` goes on from it
to exactly the result of an uninterrupted run.  The runner does no I/O and
handles no signals; saving the state is :mod:`symbp.checkpoint`'s job.

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
import itertools
import math
import numbers
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from symbp.errors import SpecError, UserError

__all__ = [
    "DIVERGENCE_FACTOR",
    "Armijo",
    "Constant",
    "Decaying",
    "Evaluation",
    "HistoryRow",
    "Objective",
    "Params",
    "RunResult",
    "RunnerState",
    "StepSize",
    "StopReason",
    "parse_step_size",
    "run",
]

Params = dict[str, np.ndarray]
Objective = Callable[[Params, np.ndarray | None], tuple[float, Params]]

#: The divergence bound :func:`symbp.train` uses: a loss above 10⁶ · max(1, |R(a_0)|)
#: counts as diverged.  Gradient descent that works never comes near it (a
#: descent method lowers R; even a noisy mini-batch run rarely doubles it),
#: while a step size that is too large grows R geometrically and crosses it
#: within a few dozen steps, long before overflow turns it into inf or NaN.
DIVERGENCE_FACTOR = 1e6


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
    DIVERGED = "the loss diverged (try a smaller step size or the Armijo rule)"
    INTERRUPTED = "stopped on request (continue from the returned state)"


class HistoryRow(NamedTuple):
    """One evaluated point a_l.

    ``loss`` and ``grad_norm`` (‖∇R(a_l)‖₂ over all arrays) are on the batch of
    step l; ``gamma`` is the step size used to leave a_l, and 0.0 on the last
    row (where the run stopped) or when a line search found no acceptable step.
    A row is a named tuple: ``step, loss, grad_norm, gamma = row`` works too.
    """

    step: int
    loss: float
    grad_norm: float
    gamma: float


# eq=False on the classes below: they hold arrays, whose == is elementwise.
@dataclass(frozen=True, eq=False)
class Evaluation:
    """R(a), ∇R(a) and ‖∇R(a)‖² at one point, as the objective returned them."""

    loss: float
    grad: Params
    norm_sq: float
    #: the gradient as one flat vector, in the runner's order of the parameters (None: not packed yet)
    packed: np.ndarray | None = None


class _Answer(NamedTuple):
    """An :class:`Evaluation` as the loop uses it at every step: the gradient's arrays in the parameters'
    order and packed, without a dict (an Evaluation is made only for a state handed back)."""

    loss: float
    values: list[np.ndarray]
    norm_sq: float
    packed: np.ndarray

    @classmethod
    def of(cls, evaluation: Evaluation, packing: _Packing) -> _Answer:
        values = [np.asarray(evaluation.grad[name]) for name in packing.names]
        packed = evaluation.packed if evaluation.packed is not None else packing.pack(evaluation.grad)
        return cls(evaluation.loss, values, evaluation.norm_sq, packed)

    def evaluation(self, packing: _Packing) -> Evaluation:
        return Evaluation(self.loss, dict(zip(packing.names, self.values)), self.norm_sq, self.packed)


@dataclass(frozen=True, eq=False)
class RunnerState:
    """Everything :func:`run` needs to go on with a run exactly where it stopped.

    A run stopped on request hands one back as ``RunResult.state``; passing it
    to ``run(..., state=...)`` with the same objective and settings goes on
    from there and ends bit for bit where the uninterrupted run ends.  The
    state is a plain value: the caller may store it anywhere (symbp.checkpoint
    writes it to an ``.npz`` file).

    Attributes:
        step: l, the number of updates applied so far.
        params: a_l, not yet evaluated.
        previous: a_{l-1}, the last point whose loss was finite, kept in case
            a_l diverges; None at l = 0.
        history: the rows of a_0 … a_{l-1}.  The patience bookkeeping (the best
            loss so far) and the divergence bound (from R(a_0)) are computed
            from it, so they cannot disagree with it.
        last_gamma: Armijo: the last accepted step size; None before the first.
        pending: full-batch Armijo: R and ∇R at a_l, computed by the line search
            and reused instead of evaluated again; None otherwise.
        rng: the mini-batch shuffling generator's ``bit_generator.state`` (a dict
            of strings and ints, JSON-able); None on the full batch.
        order: this epoch's permutation of the sample indices; None before the
            first mini-batch is drawn.
        position: where the next mini-batch starts in ``order``.
    """

    step: int
    params: Params
    previous: Params | None
    history: tuple[HistoryRow, ...]
    last_gamma: float | None = None
    pending: Evaluation | None = None
    rng: dict[str, Any] | None = None
    order: np.ndarray | None = None
    position: int = 0


@dataclass(frozen=True, eq=False)
class RunResult:
    """The outcome of :func:`run`.

    ``params`` is a_l with l = ``steps``, the number of updates that led to it.
    ``history`` has one row per evaluated point; ``history[steps]`` describes
    ``params`` and is the last row, except:

    * DIVERGED: ``params`` is the last point with a finite loss below the
      divergence bound (a_{l-1} when a_l diverged; a_0 if a_0 itself did), and
      one more row follows it, the evaluation that diverged.  ``detail`` says
      what diverged.
    * INTERRUPTED: ``params`` is not evaluated yet, so ``history`` ends at
      a_{steps-1}; ``state`` holds everything needed to go on.
    """

    params: Params
    history: tuple[HistoryRow, ...]
    reason: StopReason
    steps: int
    detail: str = ""
    state: RunnerState | None = None

    @property
    def final_loss(self) -> float:
        """The loss at the returned parameters (on the last batch when mini-batching).

        For an interrupted run, whose parameters are not evaluated yet, the loss
        at the last evaluated point.
        """
        return self.history[min(self.steps, len(self.history) - 1)].loss

    def summary(self) -> str:
        """Return one line: how many steps, the final loss, and why the run stopped."""
        if self.reason is StopReason.DIVERGED:
            if len(self.history) == 1:
                return f"diverged at the start: {self.detail}; check the data and the starting parameters"
            return (
                f"diverged: {self.detail}; kept the last finite parameters, those after {self.steps} steps "
                f"with loss {self.final_loss:.6g}; try a smaller step size or the Armijo rule"
            )
        if self.reason is StopReason.INTERRUPTED:
            return f"stopped on request after {self.steps} steps (last loss {self.final_loss:.6g}); pass the returned state to go on"
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


def _copy_params(params0: Params, what: str = "params0") -> Params:
    if not isinstance(params0, dict) or not params0:
        raise UserError(f"{what} must be a non-empty dict of parameter name -> float array")
    params: Params = {}
    for name, value in params0.items():
        array = np.array(value, copy=True)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        elif array.dtype.kind != "f":
            raise UserError(f"parameter {name!r} must be a real float array, got dtype {array.dtype}")
        params[name] = array
    return params


def _evaluate(objective: Objective, params: Params, batch: np.ndarray | None, packing: _Packing) -> _Answer:
    """Call the objective and check its answer: a loss and a gradient with the parameters' names and shapes."""
    answer = objective(params, batch)
    # The usual answer, a tuple (number, dict of NumPy arrays of the parameters' shapes), is recognised
    # in a few operations; anything else (lists, other mappings or array types, mistakes) goes through
    # the checks that convert what can be converted and say what is wrong.
    usual = type(answer) is tuple and len(answer) == 2 and type(answer[1]) is dict and len(answer[1]) == len(packing.names)
    if usual:
        raw_loss, raw_grad = answer
        values = [raw_grad.get(name) for name in packing.names]
        usual = [type(g) for g in values] == packing.array_types and [g.shape for g in values] == packing.shapes
    if not usual:
        raw_loss, values = _checked_answer(answer, packing)
    try:
        loss = float(raw_loss)
    except (TypeError, ValueError):
        raise UserError(f"the objective's loss must be a scalar, got {type(raw_loss).__name__}") from None
    packed = packing.flatten(values)
    return _Answer(loss, values, float(np.vdot(packed, packed)), packed)


def _checked_answer(answer: object, packing: _Packing) -> tuple[object, list[np.ndarray]]:
    """The loss and the gradient's arrays in the parameters' order, or a UserError saying what does not fit."""
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], dict)):
        raise UserError(f"the objective must return (loss, grad dict), got {type(answer).__name__}")
    raw_loss, raw_grad = answer
    names = set(packing.names)
    if raw_grad.keys() != names:
        missing, extra = sorted(names - raw_grad.keys()), sorted(raw_grad.keys() - names)
        raise UserError(f"gradient keys differ from parameter keys: missing {missing}, unexpected {extra}")
    values = [np.asarray(raw_grad[name]) for name in packing.names]
    for name, g, shape in zip(packing.names, values, packing.shapes):
        if g.shape != shape:
            raise UserError(f"gradient {name!r} has shape {g.shape} but the parameter has shape {shape}")
    return raw_loss, values


@dataclass(frozen=True, eq=False)
class _Packing:
    """Where each parameter lives in one flat vector a: a step is then two array operations, not two per parameter.

    The parameters handed to the objective are views into a new flat vector each
    step (never updated in place), each with its own shape and dtype.
    """

    names: tuple[str, ...]
    shapes: list[tuple[int, ...]]  # a list: compared with the list of a gradient's shapes at every step
    dtypes: tuple[np.dtype, ...]
    parts: tuple[slice, ...]  # where each parameter lies in the flat vector
    dtype: np.dtype  # of the flat vector: the common type of all parameters
    mixed: bool  # some parameter has another dtype than the flat vector (float32 beside float64)
    #: (name, part, shape), with shape None for a vector: the above as unpack reads it at every step
    views: tuple[tuple[str, slice, tuple[int, ...] | None], ...]
    array_types: list[type]  # [numpy.ndarray] * len(names): what the usual gradient's types are

    @classmethod
    def of(cls, params: Params) -> _Packing:
        sizes = [a.size for a in params.values()]
        ends = list(itertools.accumulate(sizes))
        dtype = np.result_type(*params.values())
        names, shapes = tuple(params), [a.shape for a in params.values()]
        parts = tuple(slice(start, end) for start, end in zip([0, *ends[:-1]], ends))
        return cls(
            names=names, shapes=shapes, dtypes=tuple(a.dtype for a in params.values()), parts=parts,
            dtype=dtype, mixed=any(a.dtype != dtype for a in params.values()),
            views=tuple((name, part, None if len(shape) == 1 else shape) for name, part, shape in zip(names, parts, shapes)),
            array_types=[np.ndarray] * len(names),
        )

    def pack(self, arrays: Params) -> np.ndarray:
        """The arrays (parameters or gradients, by name) as one flat vector."""
        return self.flatten([arrays[name] for name in self.names])

    @staticmethod
    def flatten(values: list[np.ndarray]) -> np.ndarray:
        """Arrays already in the parameters' order as one flat vector."""
        return np.concatenate([value.ravel() for value in values])

    def unpack(self, flat: np.ndarray) -> Params:
        """Views into ``flat``, each cast back to its parameter's dtype (so float32 stays float32)."""
        views = {}
        for name, part, shape in self.views:  # a plain loop: this runs at every step
            view = flat[part]
            views[name] = view if shape is None else view.reshape(shape)
        if self.mixed:
            views = {name: view.astype(dtype, copy=False) for (name, view), dtype in zip(views.items(), self.dtypes)}
        return views


def _step(packing: _Packing, flat: np.ndarray, packed: np.ndarray, gamma: float) -> tuple[np.ndarray, Params]:
    """a − γ g (g packed) as a new flat vector (never in place: earlier points stay valid) and its parameter views.

    Each parameter is rounded to its own dtype, as the objective will see it, so that the run goes
    on from exactly the point a saved state holds (float32 parameters with float64 gradients)."""
    new = flat - gamma * packed
    if new.dtype != packing.dtype:  # float32 parameters, float64 gradients
        new = new.astype(packing.dtype)
    if packing.mixed:  # a float32 parameter inside a float64 vector
        for part, dtype in zip(packing.parts, packing.dtypes):
            new[part] = new[part].astype(dtype)
    return new, packing.unpack(new)


def _magnitude(flat: np.ndarray) -> float:
    """A bound on max_i |a_i|: ‖a‖₂, or max_i |a_i| when ‖a‖² overflows; inf or NaN exactly when some a_i is."""
    square = float(np.vdot(flat, flat))
    return math.sqrt(square) if math.isfinite(square) else float(np.abs(flat).max())


def _finite_bound(packing: _Packing) -> tuple[float, float]:
    """How far the bound on max_i |a_i| may go before the entries are looked at, and its growth per step.

    While a bound B on max_i |a_i| stays below the first number, a is finite without looking at it:
    the largest float of the parameters' narrowest type, with a margin of 10⁸.  After a step with a
    gradient at least as wide as a, B + γ‖g‖ times the second number bounds max_i |a_i − γg_i|: it
    covers the relative rounding of γg, of the subtraction and of a cast to a narrower parameter type
    (4 ε of the narrowest type), so that it holds after any number of steps.  A ‖g‖ computed a little
    short by rounding is absorbed by the margin.
    """
    types = [np.finfo(dtype) for dtype in (packing.dtype, *packing.dtypes)]
    return min(float(t.max) for t in types) * 1e-8, 1.0 + 4 * max(float(t.eps) for t in types)


# The bit generators numpy ships; a state naming anything else is refused rather than looked up.
_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "Philox": np.random.Philox,
                   "SFC64": np.random.SFC64, "MT19937": np.random.MT19937}


def _generator(state: dict[str, Any]) -> np.random.Generator:
    """A generator that continues from a saved ``bit_generator.state``."""
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    if kind not in _BIT_GENERATORS:
        raise UserError(f"state.rng is not the state of a numpy bit generator (bit_generator = {kind!r})")
    bit_generator = _BIT_GENERATORS[kind]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise UserError(f"state.rng is not a valid {kind} state: {err}") from err
    return np.random.Generator(bit_generator)


def _line_search(
    objective: Objective,
    rule: Armijo,
    packing: _Packing,
    flat: np.ndarray,
    here: _Answer,
    batch: np.ndarray | None,
    start: float,
) -> tuple[float, tuple[np.ndarray, Params], _Answer] | None:
    """Backtrack from γ = start; return (γ, a − γ g as (flat, params), evaluation there), or None if no γ passes."""
    gamma, loss, norm_sq = start, here.loss, here.norm_sq
    for _ in range(rule.max_backtracks + 1):
        candidate = _step(packing, flat, here.packed, gamma)
        answer = _evaluate(objective, candidate[1], batch, packing)  # the same batch as g
        # `<=` is False for NaN, so a trial that blows up just backtracks.  The strict
        # `<` matters only when c·γ·‖g‖² vanishes in rounding: then `<=` alone would
        # accept points that do not lower the loss, and the run would stall there.
        trial_loss = answer.loss
        if trial_loss <= loss - rule.c * gamma * norm_sq and trial_loss < loss:
            return gamma, candidate, answer
        gamma *= rule.shrink
    return None


def _check_state(state: RunnerState, full_batch: bool, n_samples: int | None) -> None:
    """Refuse a state that cannot belong to a run with these settings."""

    def bad(why: str) -> UserError:
        return UserError(f"the runner state does not fit this run: {why}")

    if not isinstance(state, RunnerState):
        raise bad(f"expected a RunnerState, got {type(state).__name__}")
    if isinstance(state.step, bool) or not isinstance(state.step, int) or state.step < 0:
        raise bad(f"step must be an integer >= 0, got {state.step!r}")
    if len(state.history) != state.step or any(row.step != l for l, row in enumerate(state.history)):
        raise bad(f"the history must have one row for each of the steps 0 … {state.step - 1}")
    if (state.previous is None) != (state.step == 0):
        raise bad("previous parameters are needed exactly when step > 0")
    shapes = {name: np.shape(a) for name, a in state.params.items()}
    for what, other in (("previous", state.previous), ("pending gradient", state.pending and state.pending.grad)):
        if other and {name: np.shape(a) for name, a in other.items()} != shapes:
            raise bad(f"the {what} arrays differ in names or shapes from the parameters")
    if state.last_gamma is not None and not (_is_real(state.last_gamma) and state.last_gamma > 0):
        raise bad(f"last_gamma must be a positive number or None, got {state.last_gamma!r}")
    if full_batch:
        if state.rng is not None or state.order is not None:
            raise bad("it holds mini-batch shuffling state, but this run uses the full batch")
        return
    if state.pending is not None:
        raise bad("it holds a full-batch line-search result, but this run uses mini-batches")
    if state.rng is None:
        raise bad("it has no mini-batch shuffling state, but this run uses mini-batches")
    if state.order is not None:
        order = np.asarray(state.order)
        if order.shape != (n_samples,) or not np.array_equal(np.sort(order), np.arange(n_samples)):
            raise bad(f"order is not a permutation of the {n_samples} samples")
    if isinstance(state.position, bool) or not isinstance(state.position, int) or not 0 <= state.position <= (n_samples or 0):
        raise bad(f"position must be an integer in 0 … {n_samples}, got {state.position!r}")


def run(
    objective: Objective,
    params0: Params | None,
    *,
    steps: int,
    step_size: StepSize | str | float = "armijo",
    grad_tol: float = 0.0,
    patience: int | None = None,
    min_improvement: float = 1e-10,
    n_samples: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    divergence_factor: float | None = None,
    callback: Callable[[HistoryRow], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    state: RunnerState | None = None,
) -> RunResult:
    """Minimise ``objective`` by gradient descent a_{l+1} = a_l − γ_l ∇R(a_l).

    At each step l the objective is evaluated at a_l on the step's batch and a
    :class:`HistoryRow` is recorded.  The run stops, in this order of checks,
    when it diverges (DIVERGED: the loss or gradient is not finite, the
    parameters are not, or ``divergence_factor`` is given and the loss exceeds
    ``divergence_factor · max(1, |R(a_0)|)``), when ‖∇R(a_l)‖ <= ``grad_tol``
    (GRAD_TOL), when ``patience`` is given and the best loss seen has not
    fallen by more than ``min_improvement · max(1, |best|)`` over the last
    ``patience`` steps (NO_IMPROVEMENT; also when an :class:`Armijo` search on
    the full batch finds no step that lowers the loss), or when ``steps``
    updates have been applied (MAX_STEPS).  A diverged run returns the last
    parameters whose loss was finite and within the bound, never the diverged
    ones.  With mini-batches the loss, gradient norm and these checks are
    those of the step's batch.  The same call gives bit-identical results.

    After each update, ``stop_requested()`` (if given) is asked whether to stop;
    if it says yes the run returns at once with INTERRUPTED and a
    :class:`RunnerState` in ``result.state``.  ``run(..., state=result.state)``
    with the same objective and settings goes on from there, and ends with the
    same parameters and history, bit for bit, as a run never interrupted.

    Args:
        objective: ``objective(params, batch) -> (loss, grad)``, grad with the
            keys and shapes of params; batch is None (full batch) or an int array
            of sample indices.  It must not modify the arrays it is given.
        params0: the starting point a_0; it is copied, never modified.  Ignored
            (may be None) when ``state`` is given.
        steps: the most updates to apply (>= 0), counted from a_0 also when resuming.
        step_size: a rule object or its spelling for :func:`parse_step_size`.
        grad_tol: stop once the gradient norm is at most this.
        patience: steps without sufficient improvement before stopping; None never stops.
        min_improvement: relative decrease of the best loss that counts as improvement.
        n_samples: how many samples the objective's data holds (needed for mini-batches).
        batch_size: samples per batch; None or >= n_samples means full batch.
        seed: seeds the shuffling of mini-batches (one permutation per epoch);
            unused when ``state`` is given, which carries the generator's state.
        divergence_factor: stop as diverged once the loss exceeds this multiple
            (>= 1) of max(1, |R(a_0)|); None checks only for infinities and NaN.
            :func:`symbp.train` uses :data:`DIVERGENCE_FACTOR`.
        callback: called with each row as it is recorded.
        stop_requested: asked after each update whether to stop now.
        state: a state from an interrupted run to go on from, instead of params0.

    Returns:
        A :class:`RunResult` with the final parameters, the history and the stop reason.

    Raises:
        SpecError: a setting is invalid.  UserError: the objective's answer does
        not fit params, or ``state`` does not fit the settings.

    Example:
        >>> def objective(params, batch):  # R(a) = ½‖a − 2‖²
        ...     r = params["a"] - 2.0
        ...     return 0.5 * float(r @ r), {"a": r}
        >>> result = run(objective, {"a": np.zeros(2)}, steps=3, step_size="constant:0.5")
        >>> result.params["a"]
        array([1.75, 1.75])
        >>> print(result.summary())
        stopped after 3 steps with loss 0.0625: reached the step limit
        >>> first = run(objective, {"a": np.zeros(2)}, steps=3, step_size=0.5, stop_requested=lambda: True)
        >>> first.reason, first.steps
        (<StopReason.INTERRUPTED: 'stopped on request (continue from the returned state)'>, 1)
        >>> run(objective, None, steps=3, step_size=0.5, state=first.state).params["a"]
        array([1.75, 1.75])
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
    if divergence_factor is not None and not (_is_real(divergence_factor) and divergence_factor >= 1):
        raise SpecError(f"divergence_factor must be a finite number >= 1 or None, got {divergence_factor!r}")
    if n_samples is not None:
        n_samples = _as_int("n_samples", n_samples, 1)
    if batch_size is not None:
        batch_size = _as_int("batch_size", batch_size, 1)
        if n_samples is None:
            raise SpecError("batch_size needs n_samples (the number of samples) to form mini-batches")
    seed = _as_int("seed", seed, 0)
    full_batch = batch_size is None or batch_size >= n_samples  # type: ignore[operator]

    # --- where to start: a_0, or a saved state ---
    if state is None:
        rng_state = None if full_batch else np.random.default_rng(seed).bit_generator.state
        state = RunnerState(step=0, params=_copy_params(params0), previous=None, history=(), rng=rng_state)
    else:
        _check_state(state, full_batch, n_samples)
    step = state.step
    params = _copy_params(state.params, "state.params")
    packing = _Packing.of(params)
    flat = packing.pack(params)  # of dtype packing.dtype: concatenate promotes as result_type does
    params = packing.unpack(flat)
    previous = None if state.previous is None else _copy_params(state.previous, "state.previous")
    history = list(state.history)
    best = list(itertools.accumulate((row.loss for row in history), min))  # best[l] = lowest loss of rows 0..l
    last_gamma = state.last_gamma
    pending = None if state.pending is None else _Answer.of(state.pending, packing)
    # One generator for the whole run, one permutation per epoch: epochs differ, runs repeat.
    rng = None if state.rng is None else _generator(state.rng)
    order = None if state.order is None else np.array(state.order, copy=True)
    position = state.position
    bound: float | None = None
    # Whether a_l is finite is settled by a bound on max_i |a_{l,i}| while it stays far below the
    # largest float (see _finite_bound); only past it, or when γg was computed in a narrower type
    # than a (where it can overflow by itself), are the entries looked at.  The answer is that of
    # looking at every step, without a pass over a at every step.
    magnitude, (safe, growth) = math.inf, _finite_bound(packing)

    while True:
        # --- this step's batch; a fresh permutation when the epoch is used up ---
        batch: np.ndarray | None = None
        if rng is not None:
            if order is None or position >= n_samples:  # type: ignore[operator]
                order, position = rng.permutation(n_samples), 0
            batch = order[position : position + batch_size]  # the last, partial batch is kept
            position = min(position + batch_size, n_samples)  # type: ignore[operator]

        # --- evaluate at a_l ---
        here = pending if pending is not None else _evaluate(objective, params, batch, packing)
        pending = None
        loss, norm_sq = here.loss, here.norm_sq
        grad_norm = math.sqrt(norm_sq)
        best.append(min(best[-1], loss) if best else loss)
        if bound is None and divergence_factor is not None:
            bound = divergence_factor * max(1.0, abs(history[0].loss if history else loss))

        # --- stop rules, checked before stepping ---
        reason: StopReason | None = None
        detail = ""
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            reason, detail = StopReason.DIVERGED, f"at step {step} the loss is {loss:.6g} and the gradient norm {grad_norm:.6g}"
        elif magnitude > safe and not math.isfinite(magnitude := _magnitude(flat)):
            reason, detail = StopReason.DIVERGED, f"at step {step} the parameters are not finite"
        elif bound is not None and loss > bound:
            reason = StopReason.DIVERGED
            detail = f"at step {step} the loss {loss:.6g} exceeds {divergence_factor:g} × max(1, |R(a_0)|) = {bound:.6g}"
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
        new_flat, new_params = flat, params
        if reason is None:
            if isinstance(rule, Constant):
                gamma = rule.gamma
                new_flat, new_params = _step(packing, flat, here.packed, gamma)
            elif isinstance(rule, Decaying):
                gamma = rule.gamma(step)
                new_flat, new_params = _step(packing, flat, here.packed, gamma)
            else:
                start = rule.gamma0 if last_gamma is None else min(rule.gamma0, rule.grow * last_gamma)
                found = _line_search(objective, rule, packing, flat, here, batch, start)
                if found is not None:
                    gamma, (new_flat, new_params), answer = found
                    last_gamma = gamma
                    pending = answer if full_batch else None  # R and ∇R at a_{l+1}: reuse them
                elif full_batch:
                    # No useful γ; from the same point on the same data a retry finds none either.
                    reason = StopReason.NO_IMPROVEMENT
                # On a mini-batch, skip the step: the next batch may allow one.

        row = HistoryRow(step, loss, grad_norm, gamma)
        history.append(row)
        if callback is not None:
            callback(row)
        if reason is StopReason.DIVERGED and previous is not None:
            return RunResult(params=previous, history=tuple(history), reason=reason, steps=step - 1, detail=detail)
        if reason is not None:
            return RunResult(params=params, history=tuple(history), reason=reason, steps=step, detail=detail)
        previous, params, flat = params, new_params, new_flat
        wide = here.packed.dtype.itemsize >= packing.dtype.itemsize
        magnitude = (magnitude + gamma * grad_norm) * growth if wide else math.inf
        step += 1

        # --- between steps: stop here if asked, handing back the whole state ---
        if stop_requested is not None and stop_requested():
            saved = RunnerState(
                step=step, params=params, previous=previous, history=tuple(history), last_gamma=last_gamma,
                pending=None if pending is None else pending.evaluation(packing),
                rng=None if rng is None else rng.bit_generator.state,
                order=order, position=position,
            )
            return RunResult(params=params, history=tuple(history), reason=StopReason.INTERRUPTED, steps=step, state=saved)
