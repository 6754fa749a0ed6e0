"""yours − derived in index notation: sums over the same indices merged, intermediates unnamed when the numbers say equal."""

from __future__ import annotations

import sympy as sp

from symbp.checker.difference import difference
from symbp.checker.notation import notation_for
from symbp.spec.network import make_spec
from symbp.symbolic.model import LAMBDA, W1, a, f, h, i, k, m, n, y

TANH = make_spec(hidden=3, sigma="tanh")
L2 = make_spec(hidden=2, sigma="tanh", l2=0.1)


def test_sums_over_the_same_indices_are_merged() -> None:
    yours = sp.Sum(2 * f[i, k] * h[i, m], (i, 1, n))
    derived = sp.Sum(2 * y[i, k] * h[i, m], (i, 1, n))
    notation = notation_for(TANH)
    assert notation.printer.doprint(difference(yours, derived, notation)) == "sum(2*(f[i] - y[i])*h[i,m], i)"


def test_equal_formulas_reduce_to_zero_once_h_is_written_out() -> None:
    yours = sp.Sum(sp.tanh(a[i, m]), (i, 1, n))
    derived = sp.Sum(h[i, m], (i, 1, n))
    assert difference(yours, derived, notation_for(TANH)) != 0  # h and tanh(a) are different symbols to SymPy
    assert difference(yours, derived, notation_for(TANH), equal=True) == 0


def test_lambda_is_its_number() -> None:
    assert difference(2 * LAMBDA * W1[k, m], sp.Integer(0), notation_for(L2)) == W1[k, m] / 5


def test_sums_in_products_meet_the_nested_sums_of_a_deep_gradient() -> None:
    # The derived component nests one sum per layer; a formula with its sums gathered outermost is the same sum.
    notation = notation_for(TANH)
    nested = sp.Sum(y[i, k] * sp.Sum(W1[k, m] * h[i, m] * a[i, m], (m, 1, 3)), (i, 1, n))
    gathered = sp.Sum(a[i, m] * h[i, m] * y[i, k] * W1[k, m], (m, 1, 3), (i, 1, n))
    assert difference(gathered, nested, notation) == 0
    assert difference(2 * gathered, nested, notation) == gathered


def test_a_sum_is_not_pulled_over_a_factor_that_uses_its_index() -> None:
    # f[i,m] outside the sum over m is another m (a free index): pulling the sum out would capture it.
    notation = notation_for(TANH)
    captured = sp.Sum(f[i, m] * sp.Sum(h[i, m], (m, 1, 3)), (i, 1, n))
    wrong = sp.Sum(f[i, m] * h[i, m], (m, 1, 3), (i, 1, n))
    assert difference(captured, wrong, notation) != 0
