"""The NumPy printer, on exact strings: broadcasting, the step, the logistic, max and min."""

from __future__ import annotations

import pytest
import sympy as sp

from symbp.errors import InternalError
from symbp.kernel.printer import KernelPrinter, broadcast
from symbp.symbolic.model import i, j, k, m
from symbp.symbolic.stable import Logistic

a, b2, delta1, W1, x = (sp.IndexedBase(name) for name in ("a", "b2", "delta1", "W1", "x"))


@pytest.mark.parametrize(
    ("axes", "target", "expected"),
    [
        ((m, i), (m, i), "a"),
        ((m,), (m, i), "a[:, None]"),
        ((i,), (m, i), "a"),
        ((i, m), (m, i), "a.T"),
        ((), (m, i), "a"),
        ((k, i), (k, m, i), "a[:, None, :]"),
    ],
)
def test_broadcast(axes, target, expected) -> None:
    assert broadcast("a", axes, target) == expected


def test_broadcast_refuses_an_array_that_does_not_fit() -> None:
    with pytest.raises(InternalError, match="does not fit"):
        broadcast("a", (j,), (m, i))


def printed(expr: sp.Expr, axes=(m, i)) -> str:
    printer = KernelPrinter()
    printer.target_axes = axes
    return printer.doprint(expr)


def test_array_references_follow_the_stored_order() -> None:
    assert printed(a[i, m] + b2[m]) == "a + b2[:, None]"
    assert printed(x[i, j] * W1[k, m], (k, m, j, i)) == "W1[:, :, None, None]*X.T"


def test_functions_of_the_notation() -> None:
    assert printed(sp.Heaviside(a[i, m])) == "numpy.heaviside(a, 0.0)"
    assert printed(Logistic(a[i, m])) == "_logistic(a)"
    assert printed(sp.tanh(a[i, m] / 2)) == "_tanh((1/2)*a)"
    assert printed(sp.Max(0, a[i, m])) == "numpy.maximum(0, a)"
    assert printed(sp.Min(a[i, m], 1, 2 * a[i, m])) in ("numpy.minimum(numpy.minimum(1, a), 2*a)", "numpy.minimum(numpy.minimum(1, 2*a), a)")


def test_the_printer_records_the_modules_it_used() -> None:
    printer = KernelPrinter()
    printer.target_axes = (m, i)
    printer.doprint(sp.tanh(a[i, m]) + sp.exp(a[i, m]))
    assert set(printer.module_imports) == {"numpy"}
    assert printer.functions == {"_tanh"}
