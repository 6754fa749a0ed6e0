"""Momentum, Nesterov and Adam against an oracle no one here wrote: scikit-learn's MLPRegressor and MLPClassifier.

From the same initial parameters and data, 100 full-batch steps of symbp's runner on a generated
kernel end where scikit-learn's ``sgd`` (with momentum, with Nesterov) and ``adam`` solvers end
(``alpha=0``, ``shuffle=False``, batch = all samples), to 1e-8 relative.

scikit-learn minimises ½·mean‖y − f‖² (regression) or the mean log-loss (classification; with three
classes, of a softmax output); symbp's kernels here have the mean reduction, R = (1/n) Σ‖y − f‖² (or the
mean categorical cross-entropy of a softmax kernel, on one-hot targets), whose gradient is 2 (or 1) times
scikit-learn's.  The same trajectory therefore takes scikit-learn's own learning rate (lr/2 for the
regressor's square without the ½) for momentum and Nesterov, and, for Adam, whose step does not change with
the gradient's scale except through ε, the same lr with ε (ε·2 for the regressor): rescalings by powers of
two, which SymPy's kernel and scikit-learn round alike.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symbp
from tests.helpers import kernel, slow_after

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is in the test extras: pip install -e '.[test]'")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

STEPS, LR, N, P, M = 100, 0.05, 50, 3, 4


def scikit_learn_run(estimator, solver: str, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, **options) -> dict[str, np.ndarray]:
    """scikit-learn's parameters after STEPS full-batch steps from ``params`` (W1, b1, W2, b2 in symbp's shapes)."""
    model = estimator(hidden_layer_sizes=(M,), activation="tanh", solver=solver, learning_rate_init=LR, alpha=0.0, batch_size=len(X),
                      shuffle=False, max_iter=1, tol=0.0, n_iter_no_change=10**9, warm_start=True, random_state=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)  # sets up the estimator; its weights are replaced next
        model.coefs_ = [params["W2"].T.copy(), params["W1"].T.copy()]
        model.intercepts_ = [params["b2"].copy(), params["b1"].copy()]
        model.max_iter = STEPS
        model.fit(X, y)  # warm_start keeps the weights; a fresh solver takes STEPS steps (one batch an epoch)
    assert model.out_activation_ == ("softmax" if estimator is MLPClassifier else "identity")
    return {"W1": model.coefs_[1].T, "b1": model.intercepts_[1], "W2": model.coefs_[0].T, "b2": model.intercepts_[0]}


def relative_error(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(ours[name] - theirs[name]) / np.maximum(np.abs(theirs[name]), 1e-12))) for name in theirs)


CLASSES = 3


def data(classify: bool):
    """Inputs and targets; for the classifier, labels 0, 1, 2 (scikit-learn's) and their one-hot rows (symbp's)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, P))
    if classify:
        labels = np.digitize(X[:, 0] + 0.3 * rng.normal(size=N), [-0.4, 0.4])
        return X, labels, np.eye(CLASSES)[labels]
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    return X, y, y


SOLVERS = {
    "momentum": ("sgd", dict(momentum=0.9, nesterovs_momentum=False), lambda scale: f"momentum:{LR / scale!r},0.9"),
    "nesterov": ("sgd", dict(momentum=0.9, nesterovs_momentum=True), lambda scale: f"nesterov:{LR / scale!r},0.9"),
    "adam": ("adam", {}, lambda scale: f"adam:{LR!r},0.9,0.999,{1e-8 * scale!r}"),
}


@pytest.mark.parametrize(("task", "solver"), slow_after([(task, solver) for task in ("regressor", "classifier") for solver in SOLVERS], unpack=True))
def test_the_runner_follows_scikit_learn(task: str, solver: str) -> None:
    classify = task == "classifier"
    X, y, targets = data(classify)
    k = kernel(hidden=M, inputs=P, loss="softmax", outputs=CLASSES, reduction="mean") if classify else kernel(hidden=M, inputs=P, reduction="mean")
    params0 = k.init_params(P, seed=1)
    sk_solver, options, spelling = SOLVERS[solver]
    theirs = scikit_learn_run(MLPClassifier if classify else MLPRegressor, sk_solver, params0, X, y, **options)
    y = targets
    scale = 1 if classify else 2  # symbp's R over scikit-learn's loss, in the gradient: the ½ of the square
    result = symbp.train(k, X, y, steps=STEPS, step_size=spelling(scale), params0=params0, divergence_factor=None)
    assert result.steps == STEPS
    assert relative_error(result.params, theirs) <= 1e-8
    # The check can fail: one step fewer is far off.
    shorter = symbp.train(k, X, y, steps=STEPS - 1, step_size=spelling(scale), params0=params0, divergence_factor=None)
    assert relative_error(shorter.params, theirs) > 1e-6
