"""The training stage: gradient descent on any objective, fitted to a kernel and data, saved and resumed (NumPy only).

The runner (:func:`run`) knows nothing about networks; :func:`train` fits a
generated kernel to data with it.  Both take their settings as one
:class:`RunSettings` value or as keywords.
"""

from symbp.training.fit import train
from symbp.training.rules import Adam, Armijo, Constant, Decaying, Descent, Momentum, Move, StepSize, parse_step_size
from symbp.training.runner import run
from symbp.training.settings import DIVERGENCE_FACTOR, MIN_IMPROVEMENT, RunSettings
from symbp.training.state import Evaluation, HistoryRow, Params, RunnerState, RunResult, StopReason, Watch, WatchRow

__all__ = [
    "DIVERGENCE_FACTOR",
    "MIN_IMPROVEMENT",
    "Adam",
    "Armijo",
    "Constant",
    "Decaying",
    "Descent",
    "Evaluation",
    "HistoryRow",
    "Momentum",
    "Move",
    "Params",
    "RunResult",
    "RunSettings",
    "RunnerState",
    "StepSize",
    "StopReason",
    "Watch",
    "WatchRow",
    "parse_step_size",
    "run",
    "train",
]
