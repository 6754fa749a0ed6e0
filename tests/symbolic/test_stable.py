"""Kernels stay finite, without overflow or invalid-value warnings, at pre-activations of ±1e4."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from tests.helpers import derive, kernel, slow_after
from symbp.spec.functions import ACTIVATIONS, OUTPUTS
from symbp.symbolic.stable import Logistic, stabilize
from symbp.testing import check_grad, numeric_grad, random_problem, reference

CUSTOM = ["x/(1+exp(-x))", "log(1+exp(x))", "x*tanh(softplus(x))", "exp(x)/(1+exp(x)) - 0.5", "x*sigmoid(x)"]
SIGMAS = list(ACTIVATIONS) + CUSTOM


def test_rewrites_are_exact_identities() -> None:
    x = sp.Symbol("x", real=True)
    for expr in [sp.log(1 + sp.exp(x)), 1 / (1 + sp.exp(-x)), sp.exp(x) / (1 + sp.exp(x)), sp.diff(x / (1 + sp.exp(-x)), x), sp.exp(-x) / (1 + sp.exp(-x)) ** 3]:
        rewritten = stabilize(expr)
        assert rewritten != expr
        back = rewritten.rewrite(sp.exp).replace(lambda e: e.func.__name__ == "logaddexp", lambda e: sp.log(sp.exp(e.args[0]) + sp.exp(e.args[1])))
        assert sp.simplify(back - expr) == 0, expr
    assert stabilize(sp.exp(x) / (1 + sp.exp(x))) == Logistic(x)


def _extreme_problem(kernel, p=2, seed=0):
    """Data and parameters whose hidden pre-activations a reach ±1e4 while z stays moderate."""
    rng = np.random.default_rng(seed)
    X = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 1e4], [0.0, -1e4], [0.3, -0.2]])
    params = kernel.init_params(p, seed=seed)
    params["W2"] = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]])
    params["b2"] = np.zeros(3)
    params["W1"] = 1e-4 * rng.standard_normal((1, 3))
    y = rng.standard_normal(5)
    return params, X, y


HIDDEN_CASES = sorted(((sigma, g) for g in OUTPUTS for sigma in SIGMAS), key=lambda case: case != ("x/(1+exp(-x))", "sigmoid"))


@pytest.mark.parametrize(("sigma", "g"), slow_after(HIDDEN_CASES, unpack=True))
def test_no_overflow_at_large_hidden_preactivations(sigma: str, g: str) -> None:
    k = kernel(hidden=3, sigma=sigma, g=g, inputs=2)
    params, X, y = _extreme_problem(k)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        f = k.forward(params, X)
        R, grad = k.loss_and_grad(params, X, y)
    assert np.all(np.isfinite(f)) and np.isfinite(R)
    assert all(np.all(np.isfinite(v)) for v in grad.values())


OUTPUT_CASES = [(sigma, g) for g in ["sigmoid", "identity", "tanh", "exp"] for sigma in ["x/(1+exp(-x))", "tanh", "sigmoid", "softplus"]]


@pytest.mark.parametrize(("sigma", "g"), slow_after(OUTPUT_CASES, unpack=True))
def test_no_overflow_at_large_output_preactivations(sigma: str, g: str) -> None:
    k = kernel(hidden=3, sigma=sigma, g=g, inputs=2)
    params = k.init_params(2, seed=1)
    X = np.array([[0.5, -0.5], [1.0, 0.0], [-1.0, 0.2]])
    y = np.array([0.1, -0.3, 0.7])
    for sign in (1.0, -1.0):
        if g == "exp" and sign > 0:
            continue  # e^{1e4} is infinite: nothing finite to compute
        params["b1"] = np.array([sign * 1e4])
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            R, grad = k.loss_and_grad(params, X, y)
        assert np.isfinite(R) and all(np.all(np.isfinite(v)) for v in grad.values())


@pytest.mark.parametrize("sigma", slow_after(CUSTOM, keep=0))
def test_stable_forms_keep_gradients_exact(sigma: str) -> None:
    d = derive(hidden=3, sigma=sigma, g="sigmoid", inputs=2)
    k = kernel(spec=d.spec)
    params, X, y = random_problem(d, seed=4)
    check_grad(k.grad(params, X, y), reference(d).grad(params, X, y), rtol=1e-8)
    check_grad(k.grad(params, X, y), numeric_grad(lambda prm: k.loss(prm, X, y), params), rtol=1e-8)


def test_naive_form_would_overflow() -> None:
    """The protection matters: the unrewritten logistic overflows at −1e4."""
    a = np.array([-1e4])
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        1 / (1 + np.exp(-a))
