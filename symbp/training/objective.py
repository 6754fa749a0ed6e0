"""The objective a run minimises, and its answer checked and packed as the loop uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from symbp.errors import UserError
from symbp.training.packing import Packing
from symbp.training.state import Evaluation, Params

__all__ = ["Answer", "Objective", "ObjectiveUnavailable", "evaluate"]

#: ``objective(params, batch) -> (loss, grad)``: batch is None (the full batch) or an int array of sample indices.
Objective = Callable[[Params, np.ndarray | None], tuple[float, Params]]


class ObjectiveUnavailable(Exception):
    """Raised by an objective that cannot answer now (what it runs on failed: a lost cluster, say).

    The runner then stops with :attr:`StopReason.UNAVAILABLE` and the state from before the
    step, from which the run goes on, bit for bit, once the objective answers again.
    """


class Answer(NamedTuple):
    """An :class:`~symbp.training.state.Evaluation` as the loop uses it at every step: the gradient's arrays
    in the parameters' order and packed, without a dict (an Evaluation is made only for a state handed back)."""

    loss: float
    values: list[np.ndarray]
    norm_sq: float
    packed: np.ndarray

    @classmethod
    def of(cls, evaluation: Evaluation, packing: Packing) -> Answer:
        """The answer an evaluation saved in a state stands for."""
        values = [np.asarray(evaluation.grad[name]) for name in packing.names]
        packed = evaluation.packed if evaluation.packed is not None else packing.pack(evaluation.grad)
        return cls(evaluation.loss, values, evaluation.norm_sq, packed)

    def evaluation(self, packing: Packing) -> Evaluation:
        """The answer as an evaluation, to be saved in a state."""
        return Evaluation(self.loss, dict(zip(packing.names, self.values)), self.norm_sq, self.packed)


def evaluate(objective: Objective, params: Params, batch: np.ndarray | None, packing: Packing) -> Answer:
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
    return Answer(loss, values, float(np.vdot(packed, packed)), packed)


def _checked_answer(answer: object, packing: Packing) -> tuple[object, list[np.ndarray]]:
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
