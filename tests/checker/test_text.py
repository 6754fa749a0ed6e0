"""The text printer: SymPy written back in the notation a formula is typed in."""

from __future__ import annotations

import pytest
import sympy as sp

from symbp.checker.notation import notation_for
from symbp.spec.network import make_spec
from symbp.symbolic.derivation import derive
from symbp.symbolic.model import LAMBDA, M, W1, a, b1, d, drop_output_sums, f, h, i, j, k, m, n, x, y, z

TANH = make_spec(hidden=3, sigma="tanh")


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (sp.Sum((y[i, k] - f[i, k]) * h[i, m], (i, 1, n)), "sum((y[i] - f[i])*h[i,m], i)"),
        (b1[k] + sp.Sum(W1[k, m] * h[i, m], (m, 1, M)), "b1 + sum(W1[m]*h[i,m], m)"),
        (sp.Sum(sp.Heaviside(a[i, m]) * x[i, j], (k, 1, d), (i, 1, n)), "sum(step(a[i,m])*x[i,j], i, k)"),
        (2 * LAMBDA * W1[k, m] + sp.Max(0, a[i, m]) + sp.Abs(z[i, k]) + sp.E, "2*lam*W1[m] + abs(z[i]) + max(0, a[i,m]) + e"),
    ],
)
def test_the_printer_writes_the_notation(expr: sp.Expr, text: str) -> None:
    assert notation_for(TANH).printer.doprint(expr) == text


def test_the_derived_formula_prints_as_in_the_textbook() -> None:
    derivation = derive(spec=TANH)
    printer = notation_for(TANH).printer
    assert printer.doprint(drop_output_sums(derivation.gradients["W1"], 1)) == "sum(2*(f[i] - y[i])*h[i,m], i)"
    assert printer.doprint(drop_output_sums(derivation.gradients["W2"], 1)) == "sum(2*(1 - h[i,m]**2)*(f[i] - y[i])*W1[m]*x[i,j], i)"


def test_the_printer_keeps_the_output_index_with_several_outputs() -> None:
    notation = notation_for(make_spec(hidden=3, outputs=2))
    assert notation.printer.doprint(W1[k, m] * (f[i, k] - y[i, k])) == "(f[i,k] - y[i,k])*W1[k,m]"
