"""The training stage: gradient descent on any objective, fitted to a kernel and data, saved and resumed (NumPy only).

The runner (:func:`run`) knows nothing about networks; :func:`train` fits a
generated kernel to data with it.  Both take their settings as one
:class:`RunSettings` value or as keywords.
"""

from symbp.training.fit import train
from symbp.training.rules import Armijo, Constant, Decaying, Descent, Move, StepSize, parse_step_size
from symbp.training.runner import run
from symbp.training.settings import DIVERGENCE_FACTOR, MIN_IMPROVEMENT, RunSettings
from symbp.training.state import Evaluation, HistoryRow, Params, RunnerState, RunResult, StopReason

__all__ = [
    "DIVERGENCE_FACTOR",
    "MIN_IMPROVEMENT",
    "Armijo",
    "Constant",
    "Decaying",
    "Descent",
    "Evaluation",
    "HistoryRow",
    "Move",
    "Params",
    "RunResult",
    "RunSettings",
    "RunnerState",
    "StepSize",
    "StopReason",
    "parse_step_size",
    "run",
    "train",
]
