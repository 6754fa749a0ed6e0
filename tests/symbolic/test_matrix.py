"""The matrix view: printed lines (exact strings), its gradients against the component form and finite differences, a pdflatex compile."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import numpy as np
import pytest
from sympy.matrices.expressions import MatMul, Transpose

from symbp.symbolic.derivation import derive
from symbp.errors import InternalError
from symbp.latex.matrix import matrix_lines
from symbp.symbolic.matrix import Part, matrix_form
from symbp.symbolic.matrix_numpy import evaluate
from symbp.latex.pdf import latex_problems
from symbp.testing import check_grad, generic_gradient, numeric_grad, random_problem, reference
from tests.helpers import pdflatex as _pdflatex

CASES = [
    # (hidden sizes, sigma, g, outputs, loss)
    ((3,), "tanh", "identity", 1, "quadratic"),
    ((2,), "x/(1+exp(-x))", "sigmoid", 2, "quadratic"),
    ((3,), "relu", "identity", 2, "quadratic"),
    ((2,), "sigmoid", "sigmoid", 1, "bce"),
    ((2, 2), "tanh", "identity", 2, "quadratic"),
    ((2, 2), ("relu", "sigmoid"), "identity", 1, "quadratic"),
    ((1, 2, 2), ("sigmoid", "x/(1+exp(-x))", "tanh"), "identity", 1, "quadratic"),
    pytest.param((2, 1, 2, 2), "tanh", "sigmoid", 1, "quadratic", marks=pytest.mark.slow),
]


def _derive(hidden, sigma, g, outputs, loss, l2=0.0):
    return derive(hidden=hidden, sigma=sigma, g=g, outputs=outputs, loss=loss, l2=l2, inputs=2)


def _case_id(value: object) -> str:
    if isinstance(value, tuple):
        return ("x" if all(isinstance(v, int) for v in value) else "-").join(map(str, value))
    return str(value)


@pytest.mark.parametrize(("hidden", "sigma", "g", "outputs", "loss"), CASES, ids=_case_id)
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
    [((3,), "sigmoid", "identity", 2, "quadratic", 0.1), ((2, 2), "tanh", "sigmoid", 1, "bce", 0.25)],
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


def test_reference_case_lines_exact_strings() -> None:
    lines = matrix_lines(derive(hidden=3, sigma="tanh", g="identity"))
    assert lines == [
        r"A &= X \left(W^{2}\right)^{T} + \mathbf{1}_{n} \left(b^{2}\right)^{T}",
        r"H &= \sigma\left(A\right) = \tanh{\left(A \right)}",
        r"Z &= H \left(W^{1}\right)^{T} + \mathbf{1}_{n} \left(b^{1}\right)^{T}",
        r"F &= g\left(Z\right) = Z",
        r"\Delta^{1} &= 2 \left(F - Y\right)",
        r"\Delta^{2} &= \left(\Delta^{1} W^{1}\right) \odot \left(1 - H \odot H\right)",
        r"\nabla_{W^{1}} R &= \left(\Delta^{1}\right)^{T} H",
        r"\nabla_{b^{1}} R &= \left(\Delta^{1}\right)^{T} \mathbf{1}_{n}",
        r"\nabla_{W^{2}} R &= \left(\Delta^{2}\right)^{T} X",
        r"\nabla_{b^{2}} R &= \left(\Delta^{2}\right)^{T} \mathbf{1}_{n}",
    ]


def test_deep_network_lines_exact_strings() -> None:
    lines = matrix_lines(derive(hidden=(4, 3), sigma="relu", g="sigmoid", outputs=2, loss="bce", l2=0.1))
    assert r"A^{3} &= X \left(W^{3}\right)^{T} + \mathbf{1}_{n} \left(b^{3}\right)^{T}" in lines
    assert r"H^{2} &= \sigma\left(A^{2}\right) = \max\left(0, A^{2}\right)" in lines
    assert r"\Delta^{1} &= F - Y" in lines
    assert r"\Delta^{3} &= \left(\Delta^{2} W^{2}\right) \odot \mathbf{1}\left[A^{3} > 0\right]" in lines
    assert r"\nabla_{W^{2}} R &= \left(\Delta^{2}\right)^{T} H^{3} + 2 \lambda W^{2}" in lines
    assert r"\nabla_{b^{3}} R &= \left(\Delta^{3}\right)^{T} \mathbf{1}_{n}" in lines


def test_derivatives_without_a_readable_form_are_named() -> None:
    # σ′ of x/(1+exp(-x)) has no value form: it is written σ′(A), as the document defines it.
    lines = matrix_lines(derive(hidden=2, sigma="x/(1+exp(-x))", g="sigmoid"))
    assert r"\Delta^{1} &= 2 \left(F - Y\right) \odot F \odot \left(1 - F\right)" in lines
    assert r"\Delta^{2} &= \left(\Delta^{1} W^{1}\right) \odot \sigma'\left(A\right)" in lines
    assert r"H &= \sigma\left(A\right)" in lines and r"F &= g\left(Z\right)" in lines


def test_every_depth_gives_forward_backward_and_gradient_lines() -> None:
    for hidden in [(3,), (3, 2), (2, 2, 2), (2, 2, 2, 2)]:
        d = derive(hidden=hidden, sigma="tanh")
        form = matrix_form(d)
        layers = len(hidden) + 1
        parts = [st.part for st in form.statements]
        assert parts == [Part.FORWARD] * 2 * layers + [Part.BACKWARD] * layers + [Part.GRADIENT] * 2 * layers
        assert len(matrix_lines(d)) == 5 * layers


def test_latex_view_matrix_uses_the_matrix_lines() -> None:
    d = derive(hidden=(3, 2), sigma="tanh")
    text = d.latex(view="matrix")
    assert text.startswith("\\begin{align*}") and " \\\\\n".join(matrix_lines(d)) in text


@pytest.mark.latex
@pytest.mark.parametrize(
    "options",
    [dict(hidden=(4, 3), sigma="tanh"), dict(hidden=(3, 2), sigma=("relu", "x/(1+exp(-x))"), g="sigmoid", outputs=2, loss="bce", l2=0.1)],
    ids=["tanh", "relu-custom-bce-l2"],
)
def test_matrix_document_compiles_with_pdflatex(tmp_path, options: dict) -> None:
    pdflatex = _pdflatex()
    doc = derive(**options).document(view="matrix")
    assert r"\section{The matrix form}" in doc and r"\nabla_{W^{3}} R &= \left(\Delta^{3}\right)^{T} X" in doc
    (tmp_path / "d.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "d.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-2000:]
    assert latex_problems(log) == []
    assert (tmp_path / "d.pdf").stat().st_size > 1000
