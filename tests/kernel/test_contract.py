"""The choice of NumPy call for each contraction, on exact strings."""

from __future__ import annotations

from symbp.kernel.contract import contraction
from symbp.kernel.lower import Contract, Operand
from symbp.symbolic.model import i, j, k, m


def test_a_product_that_keeps_the_samples_is_a_matrix_product() -> None:
    op = Contract(Operand("_c0", (m, i)), (Operand("W2", (m, j)), Operand("x", (i, j))), (j,))
    assert contraction(op) == "W2 @ X.T"


def test_a_sum_over_the_samples_is_numpy_dot() -> None:
    op = Contract(Operand("gW2", (m, j)), (Operand("delta2", (m, i)), Operand("x", (i, j))), (i,))
    assert contraction(op) == "numpy.dot(delta2, X)"


def test_a_sum_of_one_array_over_the_samples() -> None:
    op = Contract(Operand("gb2", (m,)), (Operand("delta2", (m, i)),), (i,))
    assert contraction(op, ones="_ones") == "numpy.dot(delta2, _ones)"
    assert contraction(op) == "delta2.sum(axis=1)"


def test_a_product_over_an_axis_of_length_one_is_a_broadcast() -> None:
    op = Contract(Operand("_c0", (m, i)), (Operand("W1", (k, m)), Operand("delta1", (k, i))), (k,))
    assert contraction(op, unit_axes=frozenset({k})) == "W1.T * delta1"
    assert contraction(op) == "W1.T @ delta1"


def test_a_number_scales_the_product_and_anything_else_is_einsum() -> None:
    op = Contract(Operand("_c0", (m, i)), (Operand("2", ()), Operand("W2", (m, j)), Operand("x", (i, j))), (j,))
    assert contraction(op) == "2 * W2 @ X.T"
    op = Contract(Operand("_c1", (k, i)), (Operand("A", (k, m)), Operand("B", (m, i)), Operand("C", (m, i))), (m,))
    assert contraction(op) == "numpy.einsum('km,mi,mi->ki', A, B, C, optimize=True)"
