"""The notation of hand-written formulas: the whitelist reader and the printer that writes it back."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symbp.symbolic import model as mo
from symbp.symbolic.derivation import derive
from symbp.errors import ExpressionError
from symbp.checker.notation import notation_for
from symbp.symbolic.model import drop_output_sums
from symbp.spec.network import make_spec

REPRODUCIBLE = dict(derandomize=True, database=None, deadline=None, print_blob=False)
TANH = make_spec(hidden=3, sigma="tanh")
i, j, k, m = mo.i, mo.j, mo.k, mo.m


def test_a_formula_reads_as_index_notation() -> None:
    notation = notation_for(TANH)
    expr = notation.parse("sum(2*(f[i]-y[i])*W1[m]*sigma_prime(a[i,m])*x[i,j], i)", "W2")
    expected = sp.Sum(2 * (mo.f[i, k] - mo.y[i, k]) * mo.W1[k, m] * (1 - sp.tanh(mo.a[i, m]) ** 2) * mo.x[i, j], (i, 1, mo.n))
    assert expr == expected
    # Named, as the derivation writes it: σ′(a) in its value form.
    named = notation.parse("sum(2*(f[i]-y[i])*W1[m]*sigma_prime(b2[m] + sum(W2[m,j]*x[i,j], j))*x[i,j], i)", "W2", named=True)
    assert named == expected.xreplace({sp.tanh(mo.a[i, m]): mo.h[i, m]})


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (sp.Sum((mo.y[i, k] - mo.f[i, k]) * mo.h[i, m], (i, 1, mo.n)), "sum((y[i] - f[i])*h[i,m], i)"),
        (mo.b1[k] + sp.Sum(mo.W1[k, m] * mo.h[i, m], (m, 1, mo.M)), "b1 + sum(W1[m]*h[i,m], m)"),
        (sp.Sum(sp.Heaviside(mo.a[i, m]) * mo.x[i, j], (k, 1, mo.d), (i, 1, mo.n)), "sum(step(a[i,m])*x[i,j], i, k)"),
        (2 * mo.LAMBDA * mo.W1[k, m] + sp.Max(0, mo.a[i, m]) + sp.Abs(mo.z[i, k]) + sp.E, "2*lam*W1[m] + abs(z[i]) + max(0, a[i,m]) + e"),
    ],
)
def test_the_printer_writes_the_notation(expr: sp.Expr, text: str) -> None:
    assert notation_for(TANH).printer.doprint(expr) == text


def test_the_derived_formula_prints_as_in_the_textbook() -> None:
    derivation = derive(spec=TANH)
    printer = notation_for(TANH).printer
    assert printer.doprint(drop_output_sums(derivation.gradients["W1"], 1)) == "sum(-2*(y[i] - f[i])*h[i,m], i)"
    assert printer.doprint(drop_output_sums(derivation.gradients["W2"], 1)) == "sum(-2*(1 - h[i,m]**2)*(y[i] - f[i])*W1[m]*x[i,j], i)"


def test_the_printer_keeps_the_output_index_with_several_outputs() -> None:
    notation = notation_for(make_spec(hidden=3, outputs=2))
    assert notation.printer.doprint(mo.W1[k, m] * (mo.f[i, k] - mo.y[i, k])) == "(f[i,k] - y[i,k])*W1[k,m]"


ALPHABET = "xyzfhaWb12ijkmq[](),+-*/. _sumigpexlt'\"\\:=<>!%@#&|^~{}`σ\n"


@settings(max_examples=400, **REPRODUCIBLE)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_any_text_is_read_or_refused_with_one_line(text: str) -> None:
    notation = notation_for(TANH)
    try:
        expr = notation.parse(text, "W1")
    except ExpressionError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert isinstance(expr, sp.Expr)


@settings(max_examples=200, **REPRODUCIBLE)
@given(st.lists(st.sampled_from(["sum(", "h[i,m]", "y[i]", "f[i]", "W1[m]", "b1", ", i)", ", m)", "*", "+", "-", "(", ")", "2", "sigma(", "exp("]), max_size=14))
def test_formula_shaped_text_is_read_or_refused_with_one_line(parts: list[str]) -> None:
    try:
        notation_for(TANH).parse("".join(parts), "W1")
    except ExpressionError as err:
        assert str(err) and "\n" not in str(err)
