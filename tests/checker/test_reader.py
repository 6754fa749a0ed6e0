"""Reading formulas: the formula node set of the whitelist walker, index notation, named intermediates, one-line refusals."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symbp.checker.check import check
from symbp.checker.notation import notation_for
from symbp.checker.reader import read
from symbp.errors import ExpressionError
from symbp.spec.network import make_spec
from symbp.symbolic.model import W1, a, f, h, i, j, k, m, n, x, y

REPRODUCIBLE = {"derandomize": True, "database": None, "deadline": None, "print_blob": False}
TANH = make_spec(hidden=3, sigma="tanh")
RELU_D2 = make_spec(hidden=3, sigma="relu", outputs=2)


def test_a_formula_reads_as_index_notation() -> None:
    notation = notation_for(TANH)
    expr = read(notation, "sum(2*(f[i]-y[i])*W1[m]*sigma_prime(a[i,m])*x[i,j], i)", "W2")
    expected = sp.Sum(2 * (f[i, k] - y[i, k]) * W1[k, m] * (1 - sp.tanh(a[i, m]) ** 2) * x[i, j], (i, 1, n))
    assert expr == expected
    # Named, as the derivation writes it: σ′(a) in its value form.
    named = read(notation, "sum(2*(f[i]-y[i])*W1[m]*sigma_prime(b2[m] + sum(W2[m,j]*x[i,j], j))*x[i,j], i)", "W2", named=True)
    assert named == expected.xreplace({sp.tanh(a[i, m]): h[i, m]})


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


ALPHABET = "xyzfhaWb12ijkmq[](),+-*/. _sumigpexlt'\"\\:=<>!%@#&|^~{}`σ\n"


@settings(max_examples=400, **REPRODUCIBLE)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_any_text_is_read_or_refused_with_one_line(text: str) -> None:
    notation = notation_for(TANH)
    try:
        expr = read(notation, text, "W1")
    except ExpressionError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert isinstance(expr, sp.Expr)


@settings(max_examples=200, **REPRODUCIBLE)
@given(st.lists(st.sampled_from(["sum(", "h[i,m]", "y[i]", "f[i]", "W1[m]", "b1", ", i)", ", m)", "*", "+", "-", "(", ")", "2", "sigma(", "exp("]), max_size=14))
def test_formula_shaped_text_is_read_or_refused_with_one_line(parts: list[str]) -> None:
    try:
        read(notation_for(TANH), "".join(parts), "W1")
    except ExpressionError as err:
        assert str(err) and "\n" not in str(err)
