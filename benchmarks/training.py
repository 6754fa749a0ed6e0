"""Training speed: full-batch gradient descent with a constant step on the shipped diabetes data.

symbp's runner (:func:`symbp.train`) takes ``steps`` steps of size γ on R; the
same number of steps of scikit-learn's SGD solver with the whole data set as
the batch and no momentum is the comparison.  scikit-learn descends on
R/(2n), so its learning rate is γ·2n for the same step in parameter space.
Both start from their own random initial weights; the final losses are shown
to confirm that both trained.

``python -m benchmarks.training KERNEL.py RUNS`` measures both in a fresh
process (as :func:`measure_training_in_fresh_process` does) and prints the
result as JSON on its last line.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import symbp
import symbp.data
from symbp.training import RunResult

#: Full-batch steps, and symbp's constant step size γ on R = Σᵢ (yᵢ − f(xᵢ))².
STEPS: int = 500
GAMMA: float = 0.001
#: Hidden units, as in ``symbp demo``.
HIDDEN: int = 8


@dataclass(frozen=True)
class TrainingRun:
    """Median wall time of a training run and the loss R on the training data afterwards."""

    who: str
    seconds: float
    final_R: float
    steps: int


@dataclass(frozen=True)
class Training:
    """symbp's run and scikit-learn's (None when scikit-learn is missing)."""

    n: int
    p: int
    symbp: TrainingRun
    sklearn: TrainingRun | None
    #: The share of the machine's CPU time other processes took while both were timed (None where unknown).
    others_cpu: float | None = None

    @property
    def ratio(self) -> float | None:
        """symbp's time ÷ scikit-learn's."""
        return None if self.sklearn is None else self.symbp.seconds / self.sklearn.seconds


def diabetes_standardised() -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data with every column of X, and y, scaled to mean 0 and standard deviation 1."""
    data = symbp.data.diabetes()
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    y = (data.y - data.y.mean()) / data.y.std()
    return X, y


def _sklearn_model(n: int):
    """``MLPRegressor(solver="sgd")`` with one batch of all n samples, the equivalent constant step and no momentum.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=(HIDDEN,),
        activation="tanh",
        solver="sgd",
        batch_size=n,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        shuffle=False,
        tol=0.0,
        n_iter_no_change=STEPS + 1,  # never stop early: exactly STEPS steps, like symbp's run
        max_iter=STEPS,
        learning_rate="constant",
        learning_rate_init=GAMMA * 2 * n,
        random_state=0,
    )


def _time_symbp(kernel: ModuleType, X: np.ndarray, y: np.ndarray) -> tuple[float, RunResult]:
    """One ``symbp.train`` run of :data:`STEPS` constant steps of :data:`GAMMA`: its seconds and result."""
    start = time.perf_counter()
    result = symbp.train(kernel, X, y, steps=STEPS, step_size=GAMMA, seed=0)
    return time.perf_counter() - start, result


def _time_sklearn(X: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """One scikit-learn fit of :data:`STEPS` steps: its seconds and the fitted model."""
    from sklearn.exceptions import ConvergenceWarning

    mlp = _sklearn_model(X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        mlp.fit(X, y)
        return time.perf_counter() - start, mlp


def measure_training(kernel: ModuleType, runs: int = 3) -> Training:
    """Both training runs on the standardised diabetes data, ``runs`` times each; ``kernel`` is the tanh kernel with :data:`HIDDEN` units.

    The two alternate (symbp, scikit-learn, symbp, …), so that a slow spell of a shared machine
    falls on both rather than on whichever happened to be running; each time is the median of its runs.
    """
    from benchmarks.timing import cpu_ticks, others_share

    X, y = diabetes_standardised()
    have_sklearn = importlib.util.find_spec("sklearn") is not None
    ours, theirs = [], []
    result = mlp = None
    ticks = cpu_ticks()
    for _ in range(runs):
        seconds, result = _time_symbp(kernel, X, y)
        ours.append(seconds)
        if have_sklearn:
            seconds, mlp = _time_sklearn(X, y)
            theirs.append(seconds)
    others = others_share(ticks, cpu_ticks())
    assert result is not None
    symbp_run = TrainingRun(
        who="symbp.training.fit", seconds=statistics.median(ours), final_R=float(kernel.loss(result.params, X, y)), steps=len(result.history) - 1
    )
    sklearn_run = None
    if mlp is not None:
        final = float(np.sum((y - mlp.predict(X)) ** 2))
        sklearn_run = TrainingRun(who="scikit-learn MLPRegressor", seconds=statistics.median(theirs), final_R=final, steps=int(mlp.n_iter_))
    return Training(n=X.shape[0], p=X.shape[1], symbp=symbp_run, sklearn=sklearn_run, others_cpu=others)


def measure_training_in_fresh_process(kernel: ModuleType, runs: int = 3) -> Training:
    """:func:`measure_training` in a fresh Python process, as every other timing of the suite is run:
    its heap has not held the large arrays of the other measurements, nor their libraries."""
    from benchmarks.processes import last_json, run_python

    _, out = run_python("-m", "benchmarks.training", str(Path(kernel.__file__).resolve()), str(runs))
    data = last_json(out)
    runs_of = {key: None if data[key] is None else TrainingRun(**data[key]) for key in ("symbp", "sklearn")}
    return Training(n=data["n"], p=data["p"], **runs_of, others_cpu=data.get("others_cpu"))


def main(argv: list[str]) -> None:
    """Measure with the kernel file ``argv[0]``, ``argv[1]`` runs each; print the result as JSON."""
    kernel = symbp.load_kernel(argv[0])
    print(json.dumps(asdict(measure_training(kernel, runs=int(argv[1])))))


if __name__ == "__main__":
    main(sys.argv[1:])
