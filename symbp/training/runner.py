"""Gradient descent on any objective: the runner of the training stage.

The runner knows nothing about networks.  It is given an objective that maps
parameters (a dict of float arrays, treated as one flat vector a) and a batch
to ``(loss, grad)``, a starting point a_0 and :class:`~symbp.training.settings.RunSettings`
(the step limit, the step-size rule, the batches, the stop rules), and iterates

    a_{l+1} = a_l − γ_l ∇R(a_l)

until a stop rule fires.  Each step reads: this step's batch → R and ∇R at a_l
→ the stop rules → the step-size rule takes a step (:mod:`symbp.training.rules`)
→ a history row.

A run's whole state is a value, :class:`~symbp.training.state.RunnerState`: a
run asked to stop (``stop_requested``) hands it back, and ``run(..., state=...)``
goes on from it to exactly the result of an uninterrupted run.  The runner does
no I/O and handles no signals; saving the state is :mod:`symbp.training.checkpoint`'s job.

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

import itertools
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from symbp.errors import SpecError
from symbp.training.batches import Batches
from symbp.training.checks import as_int
from symbp.training.objective import Answer, Objective, ObjectiveUnavailable, evaluate
from symbp.training.packing import Packing, copy_params, magnitude
from symbp.training.rules import Move, StepSize
from symbp.training.settings import MIN_IMPROVEMENT, REQUIRED, RunSettings, settings_from
from symbp.training.state import HistoryRow, Params, RunnerState, RunResult, StopReason, Watch, WatchRow, check_state

__all__ = ["run"]


def run(
    objective: Objective,
    params0: Params | None,
    *,
    steps: int = REQUIRED,  # type: ignore[assignment]
    step_size: StepSize | str | float = "armijo",
    grad_tol: float = 0.0,
    patience: int | None = None,
    min_improvement: float = MIN_IMPROVEMENT,
    n_samples: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    divergence_factor: float | None = None,
    callback: Callable[[HistoryRow], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    state: RunnerState | None = None,
    settings: RunSettings | None = None,
    watches: tuple[Watch, ...] = (),
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

    The settings are given either as one :class:`RunSettings` (``settings=``) or
    as the keywords ``steps`` … ``divergence_factor`` (then ``steps`` is required);
    not both.

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
        settings: all of ``steps`` … ``divergence_factor`` as one value.
        watches: losses evaluated every few steps besides the steps' own (:class:`Watch`): R on
            validation data (which may select the parameters handed back and drive ``patience``) or
            on all the training data of a mini-batch run.

    Returns:
        A :class:`RunResult` with the final parameters, the history and the stop reason.

    Raises:
        SpecError: a setting is invalid.  UserError: the objective's answer does
        not fit params, or ``state`` does not fit the settings.  TypeError: the
        settings are given both ways, or neither.

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
        >>> run(objective, None, settings=RunSettings(steps=3, step_size=0.5), state=first.state).params["a"]
        array([1.75, 1.75])
    """
    keywords = dict(
        steps=steps, step_size=step_size, batch_size=batch_size, seed=seed, grad_tol=grad_tol, patience=patience,
        min_improvement=min_improvement, divergence_factor=divergence_factor,
    )
    settings = settings_from(run, settings, keywords)
    if n_samples is not None:
        n_samples = as_int("n_samples", n_samples, 1)
    if settings.batch_size is not None and n_samples is None:
        raise SpecError("batch_size needs n_samples (the number of samples) to form mini-batches")
    full_batch = settings.full_batch(n_samples)
    if state is None:
        rng = None if full_batch else np.random.default_rng(settings.seed).bit_generator.state
        state = RunnerState(step=0, params=copy_params(params0), previous=None, history=(), rng=rng)
    else:
        check_state(state, full_batch, n_samples)
    if sum(watch.selects for watch in watches) > 1:
        raise SpecError("at most one watched loss may select the parameters a run hands back")
    return _descend(objective, settings, state, n_samples, full_batch, callback, stop_requested, watches)


def _descend(
    objective: Objective,
    settings: RunSettings,
    state: RunnerState,
    n_samples: int | None,
    full_batch: bool,
    callback: Callable[[HistoryRow], None] | None,
    stop_requested: Callable[[], bool] | None,
    watches: tuple[Watch, ...] = (),
) -> RunResult:
    """The loop, from ``state`` on: batch → evaluate → watch → stop rules → the rule takes a step → record.

    One function with the stop rules inline and the settings in local variables: at about 10 µs a
    step (benchmarks/training.py), a call or an attribute look-up per step is measurable.
    """
    step, history = state.step, list(state.history)
    params = copy_params(state.params, "state.params")
    packing = Packing.of(params)
    flat = packing.pack(params)  # of dtype packing.dtype: concatenate promotes as result_type does
    params = packing.unpack(flat)
    previous = None if state.previous is None else copy_params(state.previous, "state.previous")
    pending = None if state.pending is None else Answer.of(state.pending, packing)
    batches = None if state.rng is None else Batches(state.rng, state.order, state.position, n_samples, settings.batch_size)
    descent = _Descent(objective, packing, state.last_gamma, _copied_memory(state.memory))
    rule, steps, grad_tol, patience, factor = settings.rule, settings.steps, settings.grad_tol, settings.patience, settings.divergence_factor
    best = list(itertools.accumulate((row.loss for row in history), min))  # best[l] = lowest loss of rows 0..l
    bound = None if factor is None or not history else factor * max(1.0, abs(history[0].loss))  # from R(a_0)
    # Whether a_l is finite is settled by `largest`, a bound on max_i |a_{l,i}|, while it stays far below the
    # largest float (see Packing.finite_bound); only past it, or when γg was computed in a narrower type than
    # a (where it can overflow by itself), are the entries looked at: the answer of looking at every step.
    largest, (safe, growth) = math.inf, packing.finite_bound()
    keeper = _BestKeeper(state, watches, full_batch)

    while True:
        # --- this step's batch, and R and ∇R at a_l on it ---
        batch = None if batches is None else batches.next()
        try:
            here = pending if pending is not None else evaluate(objective, params, batch, packing)
        except ObjectiveUnavailable as err:
            return _unavailable(err, step, params, previous, history, descent, keeper, batches, state)
        pending, loss = None, here.loss
        grad_norm = math.sqrt(here.norm_sq)
        best.append(min(best[-1], loss) if best else loss)
        if bound is None and factor is not None:
            bound = factor * max(1.0, abs(loss))

        # --- the stop rules, checked before stepping; a point that has not diverged may be the best so far ---
        stop: tuple[StopReason, str] | None = None
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            stop = StopReason.DIVERGED, f"at step {step} the loss is {loss:.6g} and the gradient norm {grad_norm:.6g}"
        elif largest > safe and not math.isfinite(largest := magnitude(flat)):
            stop = StopReason.DIVERGED, f"at step {step} the parameters are not finite"
        elif bound is not None and loss > bound:
            stop = StopReason.DIVERGED, f"at step {step} the loss {loss:.6g} exceeds {factor:g} × max(1, |R(a_0)|) = {bound:.6g}"
        if stop is None:
            if watches:
                keeper.see(step, params, loss)
            elif full_batch and not loss >= keeper.best_value:  # inlined keeper.see: a call per step is measurable
                keeper.before = keeper.best_step, keeper.best, keeper.best_value
                keeper.best_step, keeper.best, keeper.best_value = step, params, loss
            if grad_norm <= grad_tol:
                stop = StopReason.GRAD_TOL, ""
            elif patience is not None and step >= patience and _stalled(keeper.best_by_step or best, step, patience, settings.min_improvement):
                stop = StopReason.NO_IMPROVEMENT, ""
            elif step >= steps:
                stop = StopReason.MAX_STEPS, ""

        # --- the step-size rule takes a step ---
        gamma, new_flat, new_params = 0.0, flat, params
        if stop is None:
            descent.step, descent.flat, descent.here, descent.batch = step, flat, here, batch
            try:
                move = rule.take(descent)
            except ObjectiveUnavailable as err:  # in a line search's trial point
                return _unavailable(err, step, params, previous, history, descent, keeper, batches, state)
            if move is not None:
                gamma, new_flat, new_params, there = move
                if there is not None:  # a line search: its γ starts the next search; R and ∇R there are reused
                    descent.last_gamma = gamma
                    pending = there if full_batch else None
            elif full_batch:
                # No useful γ; from the same point on the same data a retry finds none either.
                stop = StopReason.NO_IMPROVEMENT, ""
            # On a mini-batch, skip the step: the next batch may allow one.

        # --- record ---
        row = HistoryRow(step, loss, grad_norm, gamma)
        history.append(row)
        if callback is not None:
            callback(row)
        if stop is not None:
            # The state from before a_l was evaluated: a run given it stops the same way (a finished run kept as a checkpoint).
            again = RunnerState(step=step, params=params, previous=previous, history=tuple(history[:-1]), last_gamma=descent.last_gamma,
                                memory=_copied_memory(descent.memory) or None, **keeper.state_before(step),
                                **_shuffling(batches, state, before_last_draw=True))
            return replace(keeper.stopped(*stop, step, params, previous, history), state=again)
        previous, params, flat = params, new_params, new_flat
        wide = here.packed.dtype.itemsize >= packing.dtype.itemsize
        # A rule with a memory (momentum, Adam) steps by more than γ‖g‖: then the entries are looked at.
        largest = (largest + gamma * grad_norm) * growth if wide and not descent.memory else math.inf
        step += 1

        # --- between steps: stop here if asked, handing back the whole state ---
        if stop_requested is not None and stop_requested():
            saved = RunnerState(
                step=step, params=params, previous=previous, history=tuple(history), last_gamma=descent.last_gamma,
                pending=None if pending is None else pending.evaluation(packing), **_shuffling(batches, state),
                memory=_copied_memory(descent.memory) or None, **keeper.state(),
            )
            return RunResult(params=params, history=tuple(history), reason=StopReason.INTERRUPTED, steps=step, state=saved,
                             watched=tuple(keeper.watched), best_step=keeper.best_step)


def _shuffling(batches: Batches | None, start: RunnerState, before_last_draw: bool = False) -> dict[str, object]:
    """The mini-batch part of a state to hand back: the generator's state and the place in the epoch
    (``before_last_draw``: before this step's batch, for a state from which the step is taken again)."""
    if batches is None:
        return dict(rng=None, order=None, position=start.position)
    return batches.place(before_last_draw)


def _unavailable(
    err: ObjectiveUnavailable, step: int, params: Params, previous: Params | None, history: list[HistoryRow],
    descent: _Descent, keeper: _BestKeeper, batches: Batches | None, start: RunnerState,
) -> RunResult:
    """The result of a run whose objective failed while evaluating a_l (or a trial point from it): the state from before step l."""
    state = RunnerState(step=step, params=params, previous=previous, history=tuple(history), last_gamma=descent.last_gamma,
                        memory=_copied_memory(descent.memory) or None, **keeper.state_before(step),
                        **_shuffling(batches, start, before_last_draw=True))
    return RunResult(params=params, history=tuple(history), reason=StopReason.UNAVAILABLE, steps=step, detail=str(err), state=state,
                     watched=tuple(keeper.watched), best_step=keeper.best_step)


def _stalled(best: list[float], step: int, patience: int, min_improvement: float) -> bool:
    """Whether the best loss has fallen by at most ``min_improvement · max(1, |best|)`` over the last ``patience`` steps."""
    before = best[step - patience]
    return before - best[step] <= min_improvement * max(1.0, abs(before))


class _BestKeeper:
    """The watched losses, and the best point seen: what a run hands back when it diverges or when a watch selects.

    The best point is the one with the lowest selecting watched loss (validation), else, on the full
    batch, the lowest loss; a mini-batch run without a selecting watch keeps none (its batch losses
    do not compare).  Parameters are never changed in place, so keeping the best costs a reference.
    """

    def __init__(self, state: RunnerState, watches: tuple[Watch, ...], full_batch: bool) -> None:
        self.watches = watches
        self.selecting = next((watch for watch in watches if watch.selects), None)
        self.ranks_by_loss = full_batch and self.selecting is None
        self.watched = list(state.watched)
        self.best_step, self.best = state.best_step, state.best
        self.best_value = self._value_of(state) if state.best_step is not None else math.inf
        #: the best point before it was last replaced: a state from before that step hands it back
        self.before: tuple[int | None, Params | None, float] = (self.best_step, self.best, self.best_value)
        #: the best selecting watched loss up to each step (what patience watches when a watch selects); empty otherwise
        self.best_by_step: list[float] = self._best_by_step(state) if self.selecting is not None else []

    def _value_of(self, state: RunnerState) -> float:
        if self.selecting is None:
            return state.history[state.best_step].loss
        return next(row.loss for row in state.watched if row.name == self.selecting.name and row.step == state.best_step)

    def _best_by_step(self, state: RunnerState) -> list[float]:
        values = {row.step: row.loss for row in state.watched if row.name == self.selecting.name}
        out, best = [], math.inf
        for step in range(state.step):
            best = min(best, values.get(step, math.inf))
            out.append(best)
        return out

    def see(self, step: int, params: Params, loss: float, final: bool = False) -> None:
        """Evaluate the watches due at ``step`` and keep the point if it is the best so far."""
        ranked = loss if self.ranks_by_loss else None
        for watch in self.watches:
            if step % watch.every == 0 or final:
                value = float(watch.loss(params))
                self.watched.append(WatchRow(watch.name, step, value))
                if watch is self.selecting:
                    ranked = value
        if ranked is not None and ranked < self.best_value:  # False for NaN; inf is never below the start, inf
            self.before = self.best_step, self.best, self.best_value
            self.best_step, self.best, self.best_value = step, params, ranked
        if self.selecting is not None and not final:
            self.best_by_step.append(self.best_value)

    def stopped(self, reason: StopReason, detail: str, step: int, params: Params, previous: Params | None, history: list[HistoryRow]) -> RunResult:
        """The result of a run stopped by a stop rule at a_l."""
        if reason is StopReason.DIVERGED:
            if self.best is not None:
                return self._result(self.best, history, reason, self.best_step, detail)
            if previous is not None:  # mini-batches without a selecting watch: the last finite point
                return self._result(previous, history, reason, step - 1, detail)
            return self._result(params, history, reason, step, detail)
        if self.watches and (not self.watched or self.watched[-1].step != step):
            self.see(step, params, history[-1].loss, final=True)  # the watched losses where the run ends
        if self.selecting is not None and self.best is not None:
            return self._result(self.best, history, reason, self.best_step, detail)
        return self._result(params, history, reason, step, detail)

    def _result(self, params: Params, history: list[HistoryRow], reason: StopReason, steps: int, detail: str) -> RunResult:
        return RunResult(params=params, history=tuple(history), reason=reason, steps=steps, detail=detail,
                         watched=tuple(self.watched), best_step=self.best_step)

    def state(self) -> dict[str, object]:
        """The part of a saved state that is this keeper's."""
        return dict(watched=tuple(self.watched), best_step=self.best_step, best=self.best)

    def state_before(self, step: int) -> dict[str, object]:
        """The part of a saved state that is this keeper's, as it was before ``step`` was seen (for a state that takes it again)."""
        best_step, best = self.best_step, self.best
        if best_step == step:  # the best was the point of this very step: the one before it
            best_step, best, _ = self.before
        return dict(watched=tuple(row for row in self.watched if row.step < step), best_step=best_step, best=best)


def _copied_memory(memory: dict[str, object] | None) -> dict[str, object]:
    """A rule's memory with its arrays copied: what a run hands back never changes under it."""
    return {key: np.array(value, copy=True) if isinstance(value, np.ndarray) else value for key, value in (memory or {}).items()}


class _Descent:
    """The :class:`~symbp.training.rules.Descent` a rule is handed: one per run, moved on by the loop at each step."""

    __slots__ = ("objective", "packing", "last_gamma", "memory", "step", "flat", "here", "batch")

    def __init__(self, objective: Objective, packing: Packing, last_gamma: float | None, memory: dict[str, object]) -> None:
        self.objective, self.packing, self.last_gamma, self.memory = objective, packing, last_gamma, memory
        self.step: int = 0
        self.flat: np.ndarray | None = None  # a_l, flat
        self.here: Answer | None = None  # R and ∇R at a_l
        self.batch: np.ndarray | None = None  # the step's batch

    @property
    def loss(self) -> float:
        return self.here.loss

    @property
    def norm_sq(self) -> float:
        return self.here.norm_sq

    @property
    def gradient(self) -> np.ndarray:
        return self.here.packed

    def shift(self, update: np.ndarray, gamma: float) -> Move:
        flat = self.packing.shift(self.flat, update)
        return gamma, flat, self.packing.unpack(flat), None

    def move(self, gamma: float) -> Move:
        flat = self.packing.step(self.flat, self.here.packed, gamma)
        return gamma, flat, self.packing.unpack(flat), None

    def trial(self, gamma: float) -> tuple[Move, float]:
        flat = self.packing.step(self.flat, self.here.packed, gamma)
        params = self.packing.unpack(flat)
        there = evaluate(self.objective, params, self.batch, self.packing)
        return (gamma, flat, params, there), there.loss
