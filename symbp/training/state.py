"""What a run holds and hands back: its history, its whole state between two steps, and its result."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from symbp.errors import UserError
from symbp.training.checks import is_finite_real

__all__ = ["Evaluation", "HistoryRow", "Params", "RunResult", "RunnerState", "StopReason", "Watch", "WatchRow", "check_state"]

Params = dict[str, np.ndarray]


class StopReason(enum.Enum):
    """Why :func:`~symbp.training.runner.run` stopped; the value is a phrase for messages."""

    MAX_STEPS = "reached the step limit"
    GRAD_TOL = "gradient norm below tolerance"
    NO_IMPROVEMENT = "loss stopped improving"
    DIVERGED = "the loss diverged (try a smaller step size or the Armijo rule)"
    INTERRUPTED = "stopped on request (continue from the returned state)"
    UNAVAILABLE = "the objective could not be evaluated (continue from the returned state)"


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


@dataclass(frozen=True)
class Watch:
    """A loss a run evaluates every ``every`` steps besides its steps' own: R on held-out data, or on all
    the training data when the steps see mini-batches.

    Attributes:
        name: what the history calls it (``"validation_loss"``, ``"full_loss"``).
        loss: params ↦ the loss there; it must not modify the arrays it is given.
        every: evaluated at a_0, at every ``every``-th step and where the run stops.
        selects: the run hands back the parameters where this loss was lowest (early stopping), and
            ``patience`` watches it instead of the steps' loss; at most one watch selects.
    """

    name: str
    loss: Callable[[dict[str, np.ndarray]], float]
    every: int = 1
    selects: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise UserError(f"a watched loss is evaluated every N >= 1 steps, not every {self.every!r}")


class WatchRow(NamedTuple):
    """A watched loss at step l: ``name``, ``step``, ``loss``."""

    name: str
    step: int
    loss: float


# eq=False on the classes below: they hold arrays, whose == is elementwise.
@dataclass(frozen=True, eq=False)
class Evaluation:
    """R(a), ∇R(a) and ‖∇R(a)‖² at one point, as the objective returned them."""

    loss: float
    grad: Params
    norm_sq: float
    #: the gradient as one flat vector, in the runner's order of the parameters (None: not packed yet)
    packed: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class RunnerState:
    """Everything :func:`~symbp.training.runner.run` needs to go on with a run exactly where it stopped.

    A run stopped on request hands one back as ``RunResult.state``; passing it
    to ``run(..., state=...)`` with the same objective and settings goes on
    from there and ends bit for bit where the uninterrupted run ends.  The
    state is a plain value: the caller may store it anywhere
    (:mod:`symbp.training.checkpoint` writes it to an ``.npz`` file).

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
        memory: what a step-size rule with a memory carries from step to step (momentum: the velocity;
            Adam: the moment estimates and their step count), as flat arrays and numbers; None for the others.
        watched: the watched losses evaluated so far.
        best_step, best: the step whose parameters the run would hand back as the best seen (the lowest
            selecting watched loss, else the lowest full-batch loss), and those parameters; None before any.
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
    memory: dict[str, Any] | None = None
    watched: tuple[WatchRow, ...] = ()
    best_step: int | None = None
    best: Params | None = None


@dataclass(frozen=True, eq=False)
class RunResult:
    """The outcome of :func:`~symbp.training.runner.run`.

    ``params`` is a_l with l = ``steps``, the number of updates that led to it.
    ``history`` has one row per evaluated point; ``history[steps]`` describes
    ``params`` and is the last row, except:

    * DIVERGED: ``params`` is the best point seen (``best_step``: the lowest
      selecting watched loss, else the lowest full-batch loss; on mini-batches
      without a watch, the last point with a finite loss), and the history
      goes on to the evaluation that diverged.  ``detail`` says what diverged.
    * With a watch that selects (validation): ``params`` is the point where
      its loss was lowest, ``steps`` = ``best_step``, and the history goes on
      to where the run stopped.
    * INTERRUPTED: ``params`` is not evaluated yet, so ``history`` ends at
      a_{steps-1}; ``state`` holds everything needed to go on.
    * UNAVAILABLE: the objective raised :class:`~symbp.training.objective.ObjectiveUnavailable`
      while evaluating a_l (its resources failed); as INTERRUPTED, from before that step.

    ``watched`` holds the watched losses (:class:`Watch`) evaluated during the run.
    ``state`` is given for every reason: a run given it goes on (or, for a run that
    stopped by a rule, stops again at once) and ends with this same result, bit for bit;
    so a finished run whose results could not be saved can be kept as a checkpoint.
    """

    params: Params
    history: tuple[HistoryRow, ...]
    reason: StopReason
    steps: int
    detail: str = ""
    state: RunnerState | None = None
    watched: tuple[WatchRow, ...] = ()
    best_step: int | None = None

    def watched_loss(self, name: str, step: int | None = None) -> float | None:
        """The watched loss ``name`` at ``step`` (default: the returned parameters'), or None where it was not evaluated."""
        step = self.steps if step is None else step
        return next((row.loss for row in reversed(self.watched) if row.name == name and row.step == step), None)

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
            kept = "the best parameters seen" if self.best_step is not None else "the last finite parameters"
            return (
                f"diverged: {self.detail}; kept {kept}, those after {self.steps} steps "
                f"with loss {self.final_loss:.6g}; try a smaller step size or the Armijo rule"
            )
        if self.reason is StopReason.INTERRUPTED:
            return f"stopped on request after {self.steps} steps (last loss {self.final_loss:.6g}); pass the returned state to go on"
        if self.reason is StopReason.UNAVAILABLE:
            return f"stopped after {self.steps} steps: {self.detail}; pass the returned state to go on"
        return f"stopped after {self.steps} steps with loss {self.final_loss:.6g}: {self.reason.value}"


def check_state(state: RunnerState, full_batch: bool, n_samples: int | None) -> None:
    """Refuse a state that cannot belong to a run with these settings, with a UserError saying why."""

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
    if state.last_gamma is not None and not (is_finite_real(state.last_gamma) and state.last_gamma > 0):
        raise bad(f"last_gamma must be a positive number or None, got {state.last_gamma!r}")
    if state.memory is not None:
        size = sum(int(np.size(a)) for a in state.params.values())
        for key, value in state.memory.items():
            if isinstance(value, np.ndarray) and value.shape != (size,):
                raise bad(f"the rule's memory {key!r} has shape {value.shape}, not ({size},) like the parameters")
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
