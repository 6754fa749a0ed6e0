"""In-place chains: an elementwise expression as one allocating call and ufunc calls with out=, on exact strings."""

from __future__ import annotations

import sympy as sp

from symbp.kernel.inplace import Chain, ChainBuilder, chain_lines
from symbp.kernel.printer import KernelPrinter
from symbp.symbolic.model import i, m

a, h, b2 = (sp.IndexedBase(name) for name in ("a", "h", "b2"))


def lines(expr: sp.Expr, axes=(m, i)) -> list[str]:
    printer = KernelPrinter()
    printer.target_axes = axes
    return chain_lines("t", ChainBuilder(printer, axes, {}).build(expr))


def test_one_minus_a_square_is_computed_in_one_array() -> None:
    assert lines(1 - h[i, m] ** 2) == ["t = numpy.square(h)", "numpy.subtract(1.0, t, out=t)"]


def test_a_function_of_a_sum_with_a_broadcast_bias() -> None:
    assert lines(sp.tanh(a[i, m] + b2[m])) == ["t = numpy.add(a, b2[:, None])", "_tanh(t, out=t)"]


def test_a_product_of_full_arrays_and_a_negation() -> None:
    assert lines(-2 * a[i, m] * h[i, m]) == ["t = numpy.multiply(a, -2.0)", "numpy.multiply(t, h, out=t)"]


def test_a_bare_expression_that_is_not_over_all_axes_is_printed_whole() -> None:
    assert lines(2 * b2[m], axes=(m,)) == ["t = numpy.multiply(b2, 2.0)"]
    assert chain_lines("t", Chain("b2")) == ["t = b2"]
