"""The matrix view evaluated with NumPy: its gradients against the component form and finite differences."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sympy.matrices.expressions import MatMul, Transpose

from symbp.errors import InternalError
from symbp.symbolic.matrix import Part, matrix_form
from symbp.symbolic.matrix_numpy import evaluate
from symbp.testing import check_grad, generic_gradient, numeric_grad, random_problem, reference
from tests.helpers import SLOW, derive, slow_after

CASES = [
    # (hidden sizes, sigma, g, outputs, loss)
    ((3,), "tanh", "identity", 1, "quadratic"),
    ((2,), "x/(1+exp(-x))", "sigmoid", 2, "quadratic"),
    ((3,), "relu", "identity", 2, "quadratic"),
    ((2,), "sigmoid", "sigmoid", 1, "bce"),
    ((2, 2), "tanh", "identity", 2, "quadratic"),
    ((2, 2), ("relu", "sigmoid"), "identity", 1, "quadratic"),
    ((1, 2, 2), ("sigmoid", "x/(1+exp(-x))", "tanh"), "identity", 1, "quadratic"),
    ((2, 1, 2, 2), "tanh", "sigmoid", 1, "quadratic"),
]


def _derive(hidden, sigma, g, outputs, loss, l2=0.0):
    return derive(hidden=hidden, sigma=sigma, g=g, outputs=outputs, loss=loss, l2=l2, inputs=2)


def _case_id(value: object) -> str:
    if isinstance(value, tuple):
        return ("x" if all(isinstance(v, int) for v in value) else "-").join(map(str, value))
    return str(value)


@pytest.mark.parametrize(("hidden", "sigma", "g", "outputs", "loss"), slow_after(CASES, unpack=True), ids=_case_id)
def test_matrix_form_equals_component_form_and_finite_differences(hidden, sigma, g, outputs, loss) -> None:
    d = _derive(hidden, sigma, g, outputs, loss)
    params, X, y = random_problem(d, n=5, seed=4)
    matrix = evaluate(d, params, X, y)
    check_grad(matrix, generic_gradient(d)(params, X, y), rtol=1e-10, what="matrix form vs component form")
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(matrix, numeric, rtol=1e-8, what="matrix form vs finite differences")


@pytest.mark.parametrize(
    ("hidden", "sigma", "g", "outputs", "loss", "l2"),
    slow_after([((3,), "sigmoid", "identity", 2, "quadratic", 0.1), ((2, 2), "tanh", "sigmoid", 1, "bce", 0.25)], keep=0, unpack=True),
    ids=_case_id,
)
def test_matrix_form_with_l2_penalty_matches_finite_differences(hidden, sigma, g, outputs, loss, l2) -> None:
    d = _derive(hidden, sigma, g, outputs, loss, l2)
    params, X, y = random_problem(d, n=5, seed=5)
    # R = the data term + λ Σ_l ‖W^l‖² (the biases are not penalised).
    data_term = reference(_derive(hidden, sigma, g, outputs, loss)).loss
    weights = [name for name in params if name.startswith("W")]

    def loss_with_penalty(prm):
        return data_term(prm, X, y) + l2 * sum(float(np.sum(prm[w] ** 2)) for w in weights)

    check_grad(evaluate(d, params, X, y), numeric_grad(loss_with_penalty, params), rtol=1e-8, what="matrix form with penalty vs finite differences")


def test_a_wrong_matrix_line_is_caught() -> None:
    d = _derive((3,), "tanh", "identity", 1, "quadratic")
    params, X, y = random_problem(d, n=5, seed=6)
    form = matrix_form(d)
    # Drop σ′ from Δ²: Δ² = Δ¹ W¹ instead of (Δ¹ W¹) ⊙ (1 − H ⊙ H).
    position, delta2 = next((n, st) for n, st in enumerate(form.statements) if st.lhs.name == "Delta2")
    backpropagated = delta2.rhs.args[0]
    assert isinstance(backpropagated, MatMul)
    statements = list(form.statements)
    statements[position] = replace(delta2, rhs=backpropagated)
    wrong = evaluate(d, params, X, y, form=replace(form, statements=tuple(statements)))
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(evaluate(d, params, X, y), numeric, rtol=1e-8)
    with pytest.raises(AssertionError, match="W2"):
        check_grad(wrong, numeric, rtol=1e-8)


def test_a_misaligned_matrix_product_is_an_internal_error() -> None:
    d = _derive((3,), "tanh", "identity", 1, "quadratic")
    form = matrix_form(d)
    statements = tuple(replace(st, rhs=Transpose(st.rhs)) if st.lhs.name == "W2" and st.part is Part.GRADIENT else st for st in form.statements)
    with pytest.raises(InternalError, match="shape"):
        evaluate(d, *random_problem(d, seed=7), form=replace(form, statements=statements))


@SLOW
def test_matrix_form_of_the_mean_matches_finite_differences() -> None:
    """Δ¹ carries the mean's 1/n (n the rows given); the matrix view's gradients are the mean's."""
    d = derive(hidden=(2, 2), sigma="tanh", g="sigmoid", loss="bce", inputs=2, reduction="mean", l2=0.1)
    params, X, y = random_problem(d, n=5, seed=6)
    ref = reference(d)
    check_grad(evaluate(d, params, X, y), numeric_grad(lambda prm: ref.loss(prm, X, y), params), rtol=1e-8, what="mean: matrix form vs finite differences")


def test_matrix_form_of_the_softmax_classifier_matches_finite_differences() -> None:
    """F = softmax(Z) row by row, Δ¹ = F − Y: the matrix view's gradients against the component form and finite differences."""
    d = derive(hidden=3, sigma="tanh", loss="softmax", outputs=3, inputs=2)
    params, X, y = random_problem(d, n=6, seed=7)
    matrix = evaluate(d, params, X, y)
    check_grad(matrix, generic_gradient(d)(params, X, y), rtol=1e-10, what="softmax: matrix form vs component form")
    ref = reference(d)
    check_grad(matrix, numeric_grad(lambda prm: ref.loss(prm, X, y), params), rtol=1e-8, what="softmax: matrix form vs finite differences")
