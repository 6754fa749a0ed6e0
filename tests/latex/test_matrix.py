"""The matrix view printed as LaTeX: exact strings, and a real pdflatex compile of a document with it."""

from __future__ import annotations

import subprocess

import pytest

from symbp.latex.matrix import matrix_lines
from symbp.latex.pdf import latex_problems
from tests.helpers import derive, slow_after
from tests.helpers import pdflatex as _pdflatex


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


@pytest.mark.slow
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
    # σ and g are written out all the same, applied entry by entry as the document's σ(u) and g(u).
    assert r"H &= \sigma\left(A\right) = \frac{A}{1 + e^{- A}}" in lines and r"F &= g\left(Z\right) = \frac{1}{1 + e^{- Z}}" in lines


def test_latex_view_matrix_uses_the_matrix_lines() -> None:
    d = derive(hidden=(3, 2), sigma="tanh")
    text = d.latex(view="matrix")
    assert text.startswith("\\begin{align*}") and " \\\\\n".join(matrix_lines(d)) in text


@pytest.mark.latex
@pytest.mark.parametrize(
    "options",
    slow_after([dict(hidden=(4, 3), sigma="tanh"), dict(hidden=(3, 2), sigma=("relu", "x/(1+exp(-x))"), g="sigmoid", outputs=2, loss="bce", l2=0.1)], keep=0),
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
