"""The verdicts: what a mistake looks like (constant factor, sign, wrong quantity, missing bias, penalty), and the counterexample."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.checker.check import Verdict, check
from symbp.spec.network import make_spec
from symbp.symbolic.derivation import derive
from symbp.testing import reference

TANH = make_spec(hidden=3, sigma="tanh")
SIGMOID = make_spec(hidden=3, sigma="sigmoid")
L2 = make_spec(hidden=2, sigma="tanh", l2=0.1)


def test_a_missing_factor_two_is_a_constant_factor() -> None:
    result = check("sum((f[i]-y[i])*W1[m]*(1-h[i,m]**2)*x[i,j], i)", "W2", spec=TANH)
    assert result.verdict is Verdict.CONSTANT_FACTOR and not result.correct
    assert result.factor == sp.Rational(1, 2)
    assert "misses a factor 2" in result.detail
    ce = result.counterexample
    assert ce.user_value == pytest.approx(ce.derived_value / 2)


def test_a_sign_error_is_a_sign_error() -> None:
    result = check("sum(2*(y[i]-f[i])*W1[m]*(1-h[i,m]**2)*x[i,j], i)", "W2", spec=TANH)
    assert result.verdict is Verdict.SIGN and result.factor == -1
    assert result.counterexample.user_value == pytest.approx(-result.counterexample.derived_value)


def test_z_where_h_belongs_is_a_wrong_quantity() -> None:
    result = check("sum(-2*(y[i]-f[i])*W1[m]*z[i]*(1-h[i,m])*x[i,j], i)", "W2", spec=SIGMOID)
    assert result.verdict is Verdict.WRONG_QUANTITY
    assert result.detail == "it uses z[i] where h[i,m] belongs"


def test_h_where_sigma_prime_belongs_is_a_wrong_quantity() -> None:
    result = check("sum(2*(f[i]-y[i])*W1[m]*h[i,m]*x[i,j], i)", "W2", spec=TANH)
    assert result.verdict is Verdict.WRONG_QUANTITY
    assert result.detail == "it uses h[i,m] where sigma_prime(a[i,m]) belongs"


def test_forgetting_b2_in_a_written_out_a_is_a_missing_bias() -> None:
    result = check("sum(2*(f[i]-y[i])*W1[m]*(1-tanh(sum(W2[m,j]*x[i,j], j))**2)*x[i,j], i)", "W2", spec=TANH)
    assert result.verdict is Verdict.MISSING_BIAS
    assert "forgets the bias b2" in result.detail and "when b2 = 0" in result.detail


def test_forgetting_b1_in_a_written_out_z_is_a_missing_bias() -> None:
    result = check("sum(2*(sum(W1[m]*h[i,m], m)-y[i])*h[i,m], i)", "W1", spec=TANH)
    assert result.verdict is Verdict.MISSING_BIAS and "bias b1" in result.detail


def test_forgetting_the_penalty_is_named() -> None:
    result = check("sum(2*(f[i]-y[i])*h[i,m], i)", "W1", spec=L2)
    assert result.verdict is Verdict.WRONG and "L2 penalty" in result.detail
    assert result.difference == -2 * sp.Rational(1, 10) * derive(spec=L2).model.component("W1")


def _tanh_forward(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.tanh(X @ params["W2"].T + params["b2"])
    f = h @ params["W1"].T + params["b1"]
    return h, f[:, 0]


def test_a_plainly_wrong_formula_gets_a_counterexample_that_holds() -> None:
    # σ′ forgotten: Σ_i 2 (f_i − y_i) W¹_m x_ij.
    result = check("sum(2*(f[i]-y[i])*W1[m]*x[i,j], i)", "W2", spec=TANH)
    assert result.verdict is Verdict.WRONG and not result.correct
    ce = result.counterexample
    assert ce.sizes["n"] == 1 and set(ce.sizes) == {"n", "p", "M", "d"}
    for value in [ce.X, ce.y, *ce.params.values()]:
        assert np.allclose(np.round(value, 1), value) and np.all(value != 0)
    # Both values again, independently: the formula by hand in NumPy, the gradient from SymPy's expanded R.
    m, j = ce.index
    _, f = _tanh_forward(ce.params, ce.X)
    by_hand = float(np.sum(2 * (f - ce.y) * ce.params["W1"][0, m] * ce.X[:, j]))
    small = derive(hidden=ce.sizes["M"], sigma="tanh", inputs=ce.sizes["p"])
    expanded = reference(small).grad(ce.params, ce.X, ce.y)["W2"][ce.index]
    assert ce.user_value == pytest.approx(by_hand, rel=1e-12)
    assert ce.derived_value == pytest.approx(expanded, rel=1e-10)
    assert abs(by_hand - expanded) > 0.01 * max(abs(by_hand), abs(expanded))
