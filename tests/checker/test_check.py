"""check(): formulas read, judged and reported end to end; what it refuses, it refuses with one line."""

from __future__ import annotations

import sys
import time

import pytest

import sympy as sp

from tests.helpers import SLOW, slow_after

from symbp.checker.check import CheckResult, Verdict, check
from symbp.checker.reader import MAX_LENGTH
from symbp.errors import ExpressionError, SpecError
from symbp.spec.network import make_spec
from symbp.symbolic.derivation import derive

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


@pytest.mark.parametrize(("spec", "param", "formula"), slow_after(CORRECT, keep=3, unpack=True))
def test_correct_formulas_are_accepted(spec, param: str, formula: str) -> None:
    result = check(formula, param, spec=spec)
    assert result.correct and result.verdict is Verdict.CORRECT, result.report()
    assert result.counterexample is None and result.factor is None


def test_written_out_forms_are_equal_symbolically_too() -> None:
    result = check(CORRECT[6][2], "W2", spec=TANH)
    assert result.symbolic and result.difference == 0
    assert "SymPy reduces the difference to 0" in result.report()


@pytest.mark.parametrize("spec", slow_after([TANH, RELU_D2, DEEP, BCE, L2]), ids=["tanh", "relu-d2", "deep", "bce", "l2"])
def test_the_derived_formula_as_printed_is_accepted(spec) -> None:
    for param in derive(spec=spec).model.parameters:
        printed = check("0", param, spec=spec).derived_text
        assert check(printed, param, spec=spec).correct, printed


def test_spec_arguments_as_keywords() -> None:
    result = check("sum(-2*(y[i]-f[i])*h[i,m], i)", "W1", hidden=3, sigma="tanh")
    assert isinstance(result, CheckResult) and result.correct
    with pytest.raises(TypeError, match="not both"):
        check("0", "W1", spec=TANH, hidden=3)


def test_the_report_says_everything() -> None:
    result = check("sum((f[i]-y[i])*h[i,m], i)", "W1", spec=TANH)
    report = result.report()
    assert "derived:    sum(2*(f[i] - y[i])*h[i,m], i)" in report
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


@pytest.mark.parametrize("param", ["W3", "w1", "", None])
def test_unknown_parameters_are_refused(param) -> None:
    with pytest.raises(SpecError, match="choose one of W1, b1, W2, b2"):
        check("0", param, spec=TANH)


def test_a_deep_network_is_checked_through_its_deltas() -> None:
    """Four hidden layers: the derived component of the deepest layer, typed back, is correct."""
    spec = make_spec(hidden=(3, 3, 3, 3), sigma="tanh")
    derived = check("sum(x[i,j], i)", "W5", spec=spec)
    assert derived.verdict is Verdict.WRONG and derived.derived_text.count("sum(") == 4  # one sum per layer, nested
    assert check(derived.derived_text, "W5", spec=spec).correct
    # Typed with its sums gathered outermost, as on paper: SymPy confirms it too (the sums meet the derived nesting).
    gathered = "sum(sum(2*(f[i]-y[i])*W1[m]*(1-h2[i,m]**2)*W2[m,q]*(1-h3[i,q]**2)*W3[q,r]*(1-h4[i,r]**2)*W4[r,t], m, q, r)*(1-h5[i,t]**2)*x[i,j], i)"
    typed = check(gathered, "W5", spec=spec)
    assert typed.correct and typed.symbolic and typed.difference == 0


@SLOW
def test_a_deep_networks_mistake_is_named() -> None:
    spec = make_spec(hidden=(3, 3, 3, 3), sigma="tanh")
    derived = check("sum(x[i,j], i)", "W5", spec=spec).derived_text
    halved = check(f"({derived})/2", "W5", spec=spec)
    assert halved.verdict is Verdict.CONSTANT_FACTOR and halved.factor == sp.Rational(1, 2)


@SLOW
def test_the_checker_knows_the_letters_of_every_layer() -> None:
    spec = make_spec(hidden=(2,) * 8, sigma="sigmoid")
    result = check("sum(2*(f[i]-y[i])*W1[m]*h2[i,m]*(1-h2[i,m])*h3[i,q], i)", "W2", spec=spec)
    assert result.correct and result.component == "W2[m,q]"
    deepest = check("sum(x[i,j], i)", "W9", spec=spec)
    assert deepest.component == "W9[m9,j]" and "a9[i,m9] = b9[m9] + sum(W9[m9,j]*x[i,j], j)" in deepest.definitions


def test_mean_reduction_formulas_divide_by_n() -> None:
    """With the mean, a formula divides by n (a name it may use); the sum's gradient is off by the factor n."""
    mean = make_spec(hidden=3, sigma="tanh", reduction="mean")
    assert check(W2_TANH + "/n", "W2", spec=mean).verdict is Verdict.CORRECT
    assert check("sum(2*(f[i]-y[i])*W1[m]*(1-h[i,m]**2)*x[i,j]/n, i)", "W2", spec=mean).verdict is Verdict.CORRECT
    assert check(W2_TANH, "W2", spec=mean).verdict is not Verdict.CORRECT
    with pytest.raises(ExpressionError, match="unknown name 'n'"):
        check(W2_TANH + "/n", "W2", spec=TANH)


def test_softmax_classifier_formulas_are_checked() -> None:
    """δ¹ = f − y for the softmax: the right formulas pass, the sigmoid's f(1 − f) factor carried over is caught."""
    softmax = make_spec(hidden=3, sigma="tanh", loss="softmax", outputs=3)
    assert check("sum((f[i,k]-y[i,k])*h[i,m], i)", "W1", spec=softmax).verdict is Verdict.CORRECT
    assert check("sum(sum((f[i,k]-y[i,k])*W1[k,m], k)*(1-h[i,m]**2)*x[i,j], i)", "W2", spec=softmax).verdict is Verdict.CORRECT
    assert check("sum(f[i,k]*(1-f[i,k])*(f[i,k]-y[i,k])*h[i,m], i)", "W1", spec=softmax).verdict is Verdict.WRONG
    with pytest.raises(ExpressionError, match="a call to 'g' is not allowed"):
        check("sum((g(z[i,k])-y[i,k])*h[i,m], i)", "W1", spec=softmax)
