"""The LaTeX document: one notation throughout, and every equation on the page (a grid compiled with a real pdflatex)."""

from __future__ import annotations

import re
import subprocess

import pytest

from symbp.latex.pdf import latex_problems
from tests.helpers import derive, overfull_boxes, slow_after
from tests.helpers import pdflatex as _pdflatex


def _rows(doc: str, lhs: str) -> list[str]:
    """The right-hand sides of the rows of ``doc`` whose left-hand side is ``lhs``."""
    return [line.split("&= ", 1)[1].rstrip(" \\.,") for line in doc.splitlines() if line.strip().startswith(lhs + " &= ")]


def test_sentences_are_spaced_and_the_layers_sized() -> None:
    doc = derive(hidden=(4, 3, 2), sigma="tanh").document()
    assert "component.\nLayers are numbered from the output inwards" in doc and "map.\nFor the sample" in doc
    # Every hidden layer's size, and h^{3} as everywhere else (not h_{3}).
    assert r"is the first hidden layer ($M_{4} = 4$ units)" in doc and r"is a hidden layer ($M_{3} = 3$ units)" in doc
    assert r"$A^{2}(h^{3}) = W^{2} h^{3} + b^{2}$" in doc and "h_{3}" not in doc


def test_one_notation_in_the_document() -> None:
    """σ′ in one form, the error with one sign, no brackets around a factor alone, the penalty last and defined after R."""
    doc = derive(hidden=3, sigma="x/(1+exp(-x))", l2=0.01).document()
    # σ′ has no value form here: the line σ′(u) = … and every factor ∂h/∂a print it alike.
    (line,) = _rows(doc, r"\sigma'\left(u\right)")
    at_a = re.sub(r"(?<![A-Za-z\\])u(?![A-Za-z])", "a_{im}", line)
    assert set(_rows(doc, r"\frac{\partial h_{im}}{\partial a_{im}}")) == {at_a} and not at_a.startswith(r"\left(")
    assert rf"\delta^{{1}}_{{i}} \, \left({at_a}\right)" in doc
    assert r"2 \left(f(x_{i}) - y_{i}\right)" in doc and "y_{i} - f(x_{i})" not in doc.split(r"\section{The gradient")[1]
    # R = Σ … + P, P defined after it; its derivative the last term of each weight's gradient.
    assert re.search(r"R &= \\sum_\{i=1\}\^\{n\} .* \+ P\.", doc) and "The last term" not in doc
    assert "Here $P$ penalises large weights" in doc and r"P &= \lambda \left(" in doc
    assert r"\frac{\partial R}{\partial W^{2}_{mj}} &= \sum_{i=1}^{n} \delta^{2}_{im} x_{ij} + 2 \lambda W^{2}_{mj}" in doc
    # A value form alone on its row, unbracketed (tanh′ = 1 − h²).
    assert set(_rows(derive(hidden=3, sigma="tanh").document(), r"\frac{\partial h_{im}}{\partial a_{im}}")) == {r"1 - h_{im}^{2}"}


def test_piecewise_sigma_prime_has_one_step_per_branch() -> None:
    doc = derive(hidden=3, sigma="max(x,0.01*x)").document()
    (line,) = _rows(doc, r"\sigma'\left(u\right)")
    assert line == r"\frac{\mathbf{1}\left[u < 0\right]}{100} + \mathbf{1}\left[u > 0\right]"
    assert "99" not in doc


def test_the_expanded_section_is_in_the_notation_of_the_rest() -> None:
    doc = derive(hidden=2, sigma="sigmoid", g="sigmoid", inputs=2).document(expand=True)
    section = doc.split(r"\section{Every component")[1]
    assert "written out for these sizes" in section and "fully written-out" not in section
    # In a, h, z, f with σ′ and g′ in their value forms and 2 (f − y), not in x with e^{−a} and −2 (y − f).
    (W2,) = _rows(section, r"\frac{\partial R}{\partial W^{2}_{12}}")
    assert W2.startswith(r"\sum_{i=1}^{n} 2 ") and r"\left(f(x_{i}) - y_{i}\right)" in W2 and r"\left(1 - h_{i1}\right)" in W2
    assert "e^{- " not in section and "- 2" not in section and "y_{i} - f(x_{i})" not in section


def test_the_matrix_view_writes_sigma_out_for_every_sigma() -> None:
    doc = derive(hidden=3, sigma="sigmoid").document(view="matrix")
    assert r"H &= \sigma\left(A\right) = \frac{1}{1 + e^{- A}}" in doc


#: The grid of documents that must fit the page: depth 1–6 and 12, d = 1–3, named and custom σ (swish, leaky relu, per layer),
#: g identity/sigmoid/tanh/exp, quadratic and cross-entropy, with and without λ, both views, --expand. The first is the
#: issue's example (it had 7 overfull boxes, the widest 227 pt).
GRID = [
    dict(hidden=(3, 3, 3), sigma="x/(1+exp(-x))", g="sigmoid", loss="bce", outputs=2, l2=0.01, view="matrix"),
    dict(hidden=(3,), sigma="tanh", g="identity"),
    dict(hidden=(3,), sigma="x/(1+exp(-x))", g="identity", outputs=2, view="matrix"),
    dict(hidden=(4, 3), sigma="max(x,0.01*x)", g="sigmoid", loss="bce", l2=0.01),
    dict(hidden=(4, 3, 2, 2), sigma="tanh", g="identity"),
    dict(hidden=(2, 2, 2, 2, 2), sigma="relu", g="tanh", outputs=3, view="matrix", l2=0.5),
    dict(hidden=(3,) * 6, sigma="sigmoid", g="sigmoid", outputs=2, loss="bce"),
    dict(hidden=(3,) * 6, sigma="x/(1+exp(-x))", g="tanh", outputs=3, l2=0.01, view="matrix"),
    dict(hidden=(3,) * 12, sigma="tanh", g="identity", view="matrix"),
    dict(hidden=(2,) * 12, sigma="x/(1+exp(-x))", g="sigmoid", loss="bce", outputs=2, l2=0.1),
    dict(hidden=(2,), sigma="softplus", g="tanh", inputs=3, outputs=3, expand=True),
    dict(hidden=(2, 2), sigma="max(x,0.01*x)", g="sigmoid", loss="bce", inputs=2, outputs=2, l2=0.01, expand=True, view="matrix"),
    dict(hidden=(2, 1, 2), sigma=("relu", "tanh", "x/(1+exp(-x))"), g="identity", inputs=2, expand=True),
    dict(hidden=(5,), sigma="abs(x)", g="tanh", outputs=2, l2=0.001),
    dict(hidden=(3, 3), sigma="sin(x) + x**3/3", g="exp"),
]


@pytest.mark.latex
@pytest.mark.parametrize("options", slow_after(GRID), ids=lambda o: ";".join(f"{k}={v}" for k, v in o.items()))
def test_every_equation_is_on_the_page(tmp_path, options: dict) -> None:
    pdflatex = _pdflatex()
    options = dict(options)
    view, expand = options.pop("view", "component"), options.pop("expand", False)
    (tmp_path / "d.tex").write_text(derive(**options).document(expand=expand, view=view), encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "d.log").read_text(errors="replace")
    assert run.returncode == 0 and latex_problems(log) == [], run.stdout[-2000:]
    assert [box for box in overfull_boxes(log) if box > 1.0] == []


def test_overfull_boxes_are_read_from_the_log() -> None:
    # The grid's check must be able to fail: the numbers of a log with overfull lines are found.
    log = "Overfull \\hbox (226.7106pt too wide) detected at line 158\n[]\nOverfull \\hbox (0.5pt too wide) in paragraph at lines 3--4\n"
    assert overfull_boxes(log) == [226.7106, 0.5]


def test_the_mean_reduction_is_stated_and_carried_by_the_gradients() -> None:
    """R = (1/n) Σ_i … + P, and 1/n in δ¹ (in front, with the 2 of the square), not in the penalty's derivative."""
    doc = derive(hidden=3, sigma="tanh", reduction="mean", l2=0.1).document()
    assert re.search(r"R &= \\frac\{1\}\{n\} \\sum_\{i=1\}\^\{n\} .* \+ P\.", doc)
    assert "a sum over samples (divided by $n$: their mean)" in doc
    assert r"\frac{2}{n} \left(f(x_{i}) - y_{i}\right)" in doc
    assert r"\sum_{i=1}^{n} \delta^{2}_{im} x_{ij} + 2 \lambda W^{2}_{mj}" in doc
    assert r"\frac{1}{n}" not in derive(hidden=3, sigma="tanh").document()


def test_the_softmax_document_shows_the_chain_and_its_cancellation() -> None:
    """f written out as the softmax, the chain's factors with their sum over k' next to δ¹ = f − y, no g′ of one z."""
    doc = derive(hidden=3, sigma="tanh", loss="softmax", outputs=3).document()
    assert r"f_{k}(x_{i}) &= g\left(z_{ik}\right) = \frac{e^{z_{ik}}}{\sum_{k''=1}^{d} e^{z_{i,k''}}}" in doc
    assert (r"\delta^{1}_{ik} &= \frac{\partial R}{\partial z_{ik}} = \sum_{k'=1}^{d} -\frac{y_{i,k'}}{f_{k'}(x_{i})} \, "
            r"\left(\delta_{k k'} - f_{k}(x_{i})\right) f_{k'}(x_{i}) = f_{k}(x_{i}) - y_{ik}") in doc
    assert r"g'\left(u\right)" not in doc and r"\log{\left(\sum_{k''=1}^{d} e^{z_{i,k''}} \right)}" in doc
