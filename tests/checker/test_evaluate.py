"""The evaluator of index notation: every component and point at once, sums as loops, other functions through lambdify."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.checker.evaluate import IndexNotationEvaluator
from symbp.errors import InternalError
from symbp.symbolic.model import LAMBDA, W1, a, h, i, k, m, n

#: Two points, n = 3 samples, M = 2 hidden units.
H = np.arange(12.0).reshape(2, 3, 2) / 10
A = np.arange(12.0).reshape(2, 3, 2) / 5 - 1
W = np.array([[[0.5, -1.0]], [[2.0, 0.25]]])


def evaluator() -> IndexNotationEvaluator:
    return IndexNotationEvaluator({"h": H, "a": A, "W1": W}, {n: 3}, {m: np.array([1, 2]), k: np.array([1, 1])}, {LAMBDA: 0.1})


def test_a_sum_is_evaluated_for_every_component_and_point() -> None:
    values = evaluator()(sp.Sum(W1[k, m] * h[i, m] ** 2, (i, 1, n)))
    assert values.shape == (2, 2)
    np.testing.assert_allclose(values, W[:, 0, :] * np.sum(H**2, axis=1))


def test_functions_and_lambda_are_evaluated() -> None:
    expr = sp.Sum(sp.Heaviside(a[i, m]) * sp.tanh(a[i, m]), (i, 1, n)) + 2 * LAMBDA * W1[k, m]
    expected = np.sum(np.heaviside(A, 0.5) * np.tanh(A), axis=1) + 0.2 * W[:, 0, :]
    np.testing.assert_allclose(evaluator()(expr), expected)


def test_other_functions_go_through_lambdify() -> None:
    expr = sp.Sum(sp.Piecewise((a[i, m], a[i, m] > 0), (0, True)) + sp.asinh(h[i, m]), (i, 1, n))
    expected = np.sum(np.maximum(A, 0) + np.arcsinh(H), axis=1)
    np.testing.assert_allclose(evaluator()(expr), expected)
    # A function of a sum: the function alone through lambdify, the sum as a loop.
    np.testing.assert_allclose(evaluator()(sp.asinh(sp.Sum(h[i, m], (i, 1, n)))), np.arcsinh(np.sum(H, axis=1)))


def test_a_constant_is_broadcast_to_every_component() -> None:
    np.testing.assert_array_equal(evaluator()(sp.Integer(3)), np.full((2, 2), 3.0))


def test_a_symbol_without_a_value_is_a_bug() -> None:
    with pytest.raises(InternalError, match="no value for the symbol q"):
        evaluator()(sp.Symbol("q") * h[i, m])
