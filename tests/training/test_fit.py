"""Tests for symbp/training/fit.py: train() hands the runner the kernel's gradient, checked where it must be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbp.errors import DataError

from symbp import derive, emit, load_kernel
from symbp.training import DIVERGENCE_FACTOR, RunSettings, StopReason, run
from symbp.training.fit import train
from tests.helpers import assert_same_run


@pytest.fixture(scope="module", params=[1, 2], ids=["d1", "d2"])
def kernel(request, tmp_path_factory):
    return load_kernel(emit(derive(hidden=4, sigma="tanh", outputs=request.param), tmp_path_factory.mktemp("k")))


def data(kernel, n=60, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n) if kernel.D == 1 else rng.standard_normal((n, kernel.D))
    return X, y


def test_train_follows_the_checked_gradient(kernel) -> None:
    # After its first, checked step, train calls the kernel's unchecked core on X as given:
    # the run must be the one the plain loss_and_grad gives.
    X, y = data(kernel)
    params0 = kernel.init_params(X.shape[1], seed=1)
    ours = train(kernel, X, y, steps=25, step_size=0.01, params0=params0)
    plain = run(lambda params, batch: kernel.loss_and_grad(params, X, y), params0, steps=25, step_size=0.01)
    assert ours.steps == plain.steps == 25
    np.testing.assert_allclose([r.loss for r in ours.history], [r.loss for r in plain.history], rtol=1e-12)
    for name in params0:
        np.testing.assert_allclose(ours.params[name], plain.params[name], rtol=1e-12, atol=1e-15)


def test_only_the_first_full_batch_step_is_checked(kernel, monkeypatch) -> None:
    X, y = data(kernel)
    calls = []
    checked = kernel.loss_and_grad
    monkeypatch.setattr(kernel, "loss_and_grad", lambda *args: calls.append(1) or checked(*args))
    train(kernel, X, y, steps=5, step_size=0.01)
    assert len(calls) == 1
    calls.clear()
    train(kernel, X, y, steps=5, step_size=0.01, batch_size=20)  # mini-batches: every batch is checked
    assert len(calls) == 6


def test_a_wrong_starting_shape_is_refused_by_the_first_step(kernel) -> None:
    X, y = data(kernel)
    params0 = kernel.init_params(X.shape[1])
    params0["W2"] = params0["W2"][:, :-1]
    with pytest.raises(ValueError, match="W2 has shape"):
        train(kernel, X, y, steps=3, step_size=0.01, params0=params0)


def test_float32_parameters_keep_the_checked_float64_arithmetic(kernel) -> None:
    # The kernel's checks compute in float64 whatever the parameters' dtype; with the L2 penalty
    # (computed from the parameters alone) a float32 shortcut would show in the loss.
    penalised = load_kernel(emit(derive(hidden=4, sigma="tanh", outputs=kernel.D, l2=0.1), Path(kernel.__file__).parent))
    X, y = data(penalised)
    params0 = {name: a.astype(np.float32) for name, a in penalised.init_params(X.shape[1], seed=2).items()}
    ours = train(penalised, X, y, steps=10, step_size=0.01, params0=params0)
    plain = run(lambda params, batch: penalised.loss_and_grad(params, X, y), params0, steps=10, step_size=0.01)
    assert all(a.dtype == np.float32 for a in ours.params.values())
    np.testing.assert_allclose([r.loss for r in ours.history], [r.loss for r in plain.history], rtol=1e-12)


def test_train_takes_its_settings_as_one_value(kernel) -> None:
    X, y = data(kernel)
    keywords = dict(steps=20, step_size="decay:0.02,5", batch_size=16, seed=4, patience=30)
    assert_same_run(train(kernel, X, y, settings=RunSettings(**keywords)), train(kernel, X, y, **keywords))
    with pytest.raises(TypeError, match="not both: steps given beside settings"):
        train(kernel, X, y, steps=3, settings=RunSettings())


def test_train_stops_a_diverging_run_at_its_bound_by_default(kernel) -> None:
    X, y = data(kernel)
    result = train(kernel, X, y, steps=500, step_size=5.0)
    assert result.reason is StopReason.DIVERGED and f"exceeds {DIVERGENCE_FACTOR:g} × max(1, |R(a_0)|)" in result.detail


def test_a_mini_batch_run_watches_the_loss_on_all_the_data_once_an_epoch():
    from tests.helpers import kernel

    k = kernel(hidden=4, inputs=2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.sin(2 * X[:, 0])
    result = train(k, X, y, steps=23, step_size=0.01, batch_size=8, seed=2)
    assert [row.step for row in result.watched] == [0, 5, 10, 15, 20, 23]  # ⌈40/8⌉ = 5 steps an epoch, and the last
    # The honest figure for the saved parameters: R on all the data, not the last batch's.
    assert result.watched_loss("full_loss") == k.loss(result.params, X, y) != result.final_loss


def test_validation_data_select_the_parameters_and_stop_the_run():
    from tests.helpers import kernel

    k = kernel(hidden=6, inputs=2)
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(40, 2)), rng.normal(size=(200, 2))
    y, y_val = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=40), np.sin(2 * X_val[:, 0])
    result = train(k, X, y, steps=3000, step_size="adam:0.02", validation=(X_val, y_val), patience=200)
    assert result.reason.name == "NO_IMPROVEMENT" and result.steps == result.best_step == len(result.history) - 1 - 200
    losses = [row.loss for row in result.watched if row.name == "validation_loss"]
    assert k.loss(result.params, X_val, y_val) == min(losses) == result.watched_loss("validation_loss")
    with pytest.raises(DataError, match="the validation data has p = 3 input columns"):
        train(k, X, y, steps=1, validation=(np.zeros((5, 3)), np.zeros(5)))


def test_train_hands_the_kernel_x_as_given_without_a_copy(kernel, monkeypatch) -> None:
    # A copy of X in another order (Fortran's, as train once made) doubles X's memory and was no
    # faster per step (benchmarks/dask_step.py --order): every full-batch call gets the caller's rows.
    X, y = data(kernel, n=300)
    seen = []
    core = kernel._loss_and_grad_arrays

    def spy(*args):
        seen.append(args[-2])
        return core(*args)

    monkeypatch.setattr(kernel, "_loss_and_grad_arrays", spy)
    train(kernel, X, y, steps=5, step_size=0.01)
    assert len(seen) >= 5
    assert all(np.shares_memory(x, X) and x.flags.c_contiguous for x in seen)
