"""The width estimate of printed formulas, against the widths a real pdflatex sets them at."""

from __future__ import annotations

import re
import subprocess

import pytest

from symbp.latex.formulas import chain_tex, definitions_tex, delta_tex, derivative_tex, expanded_lines, tex
from symbp.latex.matrix import matrix_lines
from symbp.latex.width import width
from tests.helpers import derive, slow_after
from tests.helpers import pdflatex as _pdflatex


def test_wider_text_is_estimated_wider() -> None:
    assert 0 < width("x") < width("x + y") < width("x + y + z")
    # Sub- and superscripts stack; a fraction is as wide as its wider part; limits sit under Σ in a display.
    assert width("W^{2}_{mj}") < width("W2mj")
    assert width(r"\frac{\partial R}{\partial W^{2}_{mj}}") < width(r"\partial R \partial W^{2}_{mj}")
    assert width(r"\sum_{i=1}^{n} x") < width(r"\sum_{i=1}^{n}") + width("x") + 1
    assert width(r"\left(\frac{a}{b}\right)") > width(r"\left(a\right)")


#: Networks whose formulas exercise every construct of the printers (sums, fractions, steps, matrices, components).
NETWORKS = [
    dict(hidden=3, sigma="tanh", l2=0.01),
    dict(hidden=(3, 3, 3), sigma="x/(1+exp(-x))", g="sigmoid", loss="bce", outputs=2, l2=0.01),
    dict(hidden=(2, 2), sigma="max(x,0.01*x)", g="tanh", outputs=3),
    dict(hidden=2, sigma="softplus", g="exp", inputs=2),
]


def _corpus(options: dict) -> list[str]:
    """Right-hand sides and left-hand sides of the rows symbp prints for one network."""
    d = derive(**{key: value for key, value in options.items() if key != "view"})
    rows = definitions_tex(d) + delta_tex(d) + derivative_tex(d) + [chain_tex(name, d) for name in d.parameters] + matrix_lines(d)
    rows += expanded_lines(d) if d.spec.inputs else []
    pieces = [part.strip() for row in rows for part in row.split("&=")] + [tex(d.model.total_loss(), d)]
    return [piece for piece in pieces if piece]


def measured(pieces: list[str], folder) -> list[float]:
    """The widths (pt) pdflatex gives each piece set as display math in the document's class and size."""
    boxes = "\n".join(rf"\setbox0\hbox{{$\displaystyle {piece}$}}\typeout{{WIDTH {n} \the\wd0}}" for n, piece in enumerate(pieces))
    (folder / "m.tex").write_text("\\documentclass[11pt]{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n\\begin{document}\n" + boxes + "\n\\end{document}\n")
    subprocess.run([_pdflatex(), "-interaction=nonstopmode", "m.tex"], cwd=folder, capture_output=True, timeout=120, check=True)
    found = dict(re.findall(r"WIDTH (\d+) ([\d.]+)pt", (folder / "m.log").read_text(errors="replace")))
    return [float(found[str(n)]) for n in range(len(pieces))]


@pytest.mark.latex
@pytest.mark.parametrize("options", slow_after(NETWORKS), ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_the_estimate_is_never_below_what_pdflatex_sets_and_not_far_above(tmp_path, options: dict) -> None:
    pieces = _corpus(options)
    assert len(pieces) > 20
    for piece, true in zip(pieces, measured(pieces, tmp_path), strict=True):
        estimate = width(piece)
        # Never below: a row the estimate fits is on the page; at most 30 % (and 4 pt for a symbol) above.
        assert true <= estimate <= 1.3 * true + 4, (piece, true, estimate)
