"""Checking hand-derived gradient formulas: verdicts, counterexamples, and refusals of what cannot be read."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import sympy as sp

from symbp.checker.check import CheckResult, Verdict, check
from symbp.symbolic.derivation import derive
from symbp.errors import ExpressionError, SpecError
from symbp.checker.notation import MAX_LENGTH
from symbp.spec.network import make_spec
from symbp.testing import reference

TANH = make_spec(hidden=3, sigma="tanh")
SIGMOID = make_spec(hidden=3, sigma="sigmoid")
RELU_D2 = make_spec(hidden=3, sigma="relu", outputs=2)
DEEP = make_spec(hidden=(3, 2), sigma="tanh")
BCE = make_spec(hidden=3, sigma="tanh", g="sigmoid", loss="bce")
L2 = make_spec(hidden=2, sigma="tanh", l2=0.1)

W2_TANH = "sum(2*(f[i]-y[i])*W1[m]*(1-h[i,m]**2)*x[i,j], i)"

CORRECT = [
    # tanh, one output: the output index k left out everywhere.
    (TANH, "W1", "sum(-2*(y[i]-f[i])*h[i,m], i)"),
    (TANH, "b1", "sum(2*(f[i]-y[i]), i)"),
    (TANH, "W2", W2_TANH),
    (TANH, "b2", "sum(2*(f[i]-y[i])*W1[m]*(1-h[i,m]**2), i)"),
    # The same, written differently: σ′ by name, 1 - h² multiplied out, a written out with its bias, k written.
    (TANH, "W2", "sum(2*(f[i]-y[i])*W1[m]*sigma_prime(a[i,m])*x[i,j], i)"),
    (TANH, "W2", "sum(2*f[i]*W1[m]*x[i,j] - 2*f[i]*W1[m]*h[i,m]**2*x[i,j] - 2*y[i]*W1[m]*x[i,j] + 2*y[i]*W1[m]*h[i,m]**2*x[i,j], i)"),
    (TANH, "W2", "sum(2*(f[i]-y[i])*W1[m]*(1-tanh(b2[m] + sum(W2[m,j]*x[i,j], j))**2)*x[i,j], i)"),
    (TANH, "W2", "sum(2*(f[i,k]-y[i,k])*W1[k,m]*(1-h[i,m]**2)*x[i,j], i, k)"),
    # sigmoid: the example of the command line, and σ′ by name.
    (SIGMOID, "W2", "sum(-2*(y[i]-f[i])*W1[m]*h[i,m]*(1-h[i,m])*x[i,j], i)"),
    (SIGMOID, "b2", "sum(-2*(y[i]-f[i])*W1[m]*sigma_prime(a[i,m]), i)"),
    (SIGMOID, "b1", "2*sum(f[i], i) - 2*sum(y[i], i)"),
    # relu with two outputs: k is written, and summed where it is not an index of the component.
    (RELU_D2, "W1", "sum(2*(f[i,k]-y[i,k])*h[i,m], i)"),
    (RELU_D2, "b1", "sum(2*(f[i,k]-y[i,k]), i)"),
    (RELU_D2, "W2", "sum(2*(f[i,k]-y[i,k])*W1[k,m]*step(a[i,m])*x[i,j], i, k)"),
    (RELU_D2, "b2", "sum(sum(2*(f[i,k]-y[i,k])*W1[k,m], k)*sigma_prime(a[i,m]), i)"),
    # Two hidden layers: W3 sums over the units m of the layer above.
    (DEEP, "W3", "sum(2*(f[i]-y[i])*sum(W1[m]*(1-h2[i,m]**2)*W2[m,q], m)*(1-h3[i,q]**2)*x[i,j], i)"),
    # Cross-entropy with a logistic output: (f - y) h, with and without the output index.
    (BCE, "W1", "sum((f[i]-y[i])*h[i,m], i)"),
    (BCE, "W1", "sum((f[i,k]-y[i,k])*h[i,m], i)"),
    (BCE, "W1", "sum((f[i]-y[i])*h[i,m], i, k)"),
    # The L2 penalty's derivative, with the weight λ written lam.
    (L2, "W1", "sum(2*(f[i]-y[i])*h[i,m], i) + 2*lam*W1[m]"),
]


@pytest.mark.parametrize(("spec", "param", "formula"), CORRECT)
def test_correct_formulas_are_accepted(spec, param: str, formula: str) -> None:
    result = check(formula, param, spec=spec)
    assert result.correct and result.verdict is Verdict.CORRECT, result.report()
    assert result.counterexample is None and result.factor is None


def test_written_out_forms_are_equal_symbolically_too() -> None:
    result = check(CORRECT[6][2], "W2", spec=TANH)
    assert result.symbolic and result.difference == 0
    assert "SymPy reduces the difference to 0" in result.report()


@pytest.mark.parametrize("spec", [TANH, RELU_D2, DEEP, BCE, L2], ids=["tanh", "relu-d2", "deep", "bce", "l2"])
def test_the_derived_formula_as_printed_is_accepted(spec) -> None:
    for param in derive(spec=spec).model.parameters:
        printed = check("0", param, spec=spec).derived_text
        assert check(printed, param, spec=spec).correct, printed


def test_spec_arguments_as_keywords() -> None:
    result = check("sum(-2*(y[i]-f[i])*h[i,m], i)", "W1", hidden=3, sigma="tanh")
    assert isinstance(result, CheckResult) and result.correct
    with pytest.raises(TypeError, match="not both"):
        check("0", "W1", spec=TANH, hidden=3)


# --- what a mistake looks like ----------------------------------------------------------------


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


def test_the_report_says_everything() -> None:
    result = check("sum((f[i]-y[i])*h[i,m], i)", "W1", spec=TANH)
    report = result.report()
    assert "derived:    sum(-2*(y[i] - f[i])*h[i,m], i)" in report
    assert "CONSTANT FACTOR" in report and "yours - derived" in report
    ce = result.counterexample
    assert f"dR/d{ce.component}: yours = {ce.user_value:.4g}, derived = {ce.derived_value:.4g}" in report
    assert result.difference_text == "sum((y[i] - f[i])*h[i,m], i)"
    assert r"\sum_{i=1}^{n}" in result.difference_latex


# --- what cannot be read ----------------------------------------------------------------------

HOSTILE = [
    "__import__('os')",
    "__import__('os').system('touch pwned')",
    "h[i,m].__class__",
    "x[i,j].real",
    "lambda: 1",
    "(lambda u: u)(1)",
    "open('pwned', 'w')",
    "eval('1')",
    "getattr(h, 'base')",
    "globals()",
    "sum(q[i], i)",
    "sum(h[i], i)",
    "sum(h[i,m,j], i)",
    "sum(x[i,m], i)",
    "sum(h[0,m], i)",
    "h[i,m]",
    "sum(h[i,m], l)",
    "sum(h[i,m])",
    "sum(h[i,m], i, i)",
    "sum(h[i,m], i=1)",
    "sum(tanh(*h), i)",
    "sum(exp(h[i,m], 2), i)",
    "y",
    "i*2",
    "sigma",
    "sigma[i]",
    "'abc'",
    "[1, 2]",
    "sum(h[i,m], i) % 2",
    "sum(h[i,m] > 0, i)",
    "sum(h[i,m], i) if 1 else 0",
    "9**9**9",
    "sum(h[i,m]**(2**h[i,m]**h[i,m]), i)",
    "1/0",
    "x" * (MAX_LENGTH + 1),
    "sum(σ(a[i,m]), i)",
    "sum(h[i,m], i)\nimport os",
    "sum(h[i,m], i) # comment",
    "-(" * 120 + "1" + ")" * 120,
    "",
]


@pytest.fixture
def warm() -> None:
    check("0", "W1", spec=TANH)  # derive and import everything once, so that a refusal is all that happens


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_or_invalid_input_is_refused_with_one_line(text: str, warm, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    modules_before = set(sys.modules)
    started = time.monotonic()
    with pytest.raises(ExpressionError) as info:
        check(text, "W1", spec=TANH)
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    assert set(sys.modules) == modules_before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum(q[i], i)", "unknown array 'q': allowed are the arrays x, y, W1, b1, W2, b2, a, h, z, f"),
        ("sum(h[i], i)", r"h takes 2 indices, h\[i,m\]; got 1"),
        ("sum(x[i,m], i)", "the second index of x runs over the inputs and is written j, not m"),
        ("h[i,m]", "the sample index i is left free"),
        ("sum(x[i,j], i)", r"the index j \(the inputs\) is neither an index of W1\[m\] nor summed"),
        ("__import__('os')", "a call to '__import__' is not allowed; allowed are"),
        ("h[i,m].real", r"attribute access \('.real'\) is not allowed"),
        ("sum(σ(a[i,m]), i)", "write sigma"),
    ],
)
def test_refusals_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        check(text, "W1", spec=TANH)


def test_the_output_index_is_needed_with_several_outputs() -> None:
    with pytest.raises(ExpressionError, match="with d = 2 outputs the output index k cannot be left out"):
        check("sum(2*(f[i]-y[i])*h[i,m], i)", "W1", spec=RELU_D2)
    with pytest.raises(ExpressionError, match=r"the index k \(the outputs\) is neither an index of W2\[m,j\] nor summed"):
        check("sum(2*(f[i,k]-y[i,k])*W1[k,m]*step(a[i,m])*x[i,j], i)", "W2", spec=RELU_D2)


@pytest.mark.parametrize("param", ["W3", "w1", "", None])
def test_unknown_parameters_are_refused(param) -> None:
    with pytest.raises(SpecError, match="choose one of W1, b1, W2, b2"):
        check("0", param, spec=TANH)
