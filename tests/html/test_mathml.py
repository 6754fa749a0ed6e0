"""symbp's notation in MathML: exact markup of the pieces, and the same conventions as the LaTeX printer."""

from __future__ import annotations

import re

import sympy as sp

from symbp.html.page import markup_for
from symbp.symbolic import model as mo
from tests.helpers import derive


def _plain(markup: str) -> str:
    """The markup without the grouping mrow elements, which change nothing on the page."""
    return re.sub(r"</?mrow>", "", markup)


def test_arrays_functions_and_steps_exact_markup() -> None:
    markup = markup_for(derive(hidden=3))
    assert _plain(markup.expr(mo.W2[mo.m, mo.j])) == "<msubsup><mi>W</mi><mi>m</mi><mi>j</mi><mn>2</mn></msubsup>"
    assert _plain(markup.expr(mo.f[mo.i, mo.k])) == '<mi>f</mi><mo stretchy="false">(</mo><msub><mi>x</mi><mi>i</mi></msub><mo stretchy="false">)</mo>'
    assert _plain(markup.expr(sp.Heaviside(-mo.a[mo.i, mo.m]))) == (
        '<mn>&#120793;</mn><mo stretchy="false">[</mo><msub><mi>a</mi><mi>i</mi><mi>m</mi></msub><mo>&lt;</mo><mn>0</mn><mo stretchy="false">]</mo>'
    )
    assert _plain(markup.partial(mo.R_symbol, mo.b1[mo.k])) == "<mfrac><mo>&#8706;</mo><mi>R</mi><mo>&#8706;</mo><msup><mi>b</mi><mn>1</mn></msup></mfrac>"
    sigma = derive(hidden=3).model.layer(2).prime(mo.a[mo.i, mo.m])
    assert _plain(markup.expr(sigma)) == '<mi>&#963;</mi><mo>&#8242;</mo><mo stretchy="false">(</mo><msub><mi>a</mi><mi>i</mi><mi>m</mi></msub><mo stretchy="false">)</mo>'


def test_the_error_keeps_one_sign_and_sums_one_sigma_per_index() -> None:
    markup = markup_for(derive(hidden=3, outputs=2))
    printed = _plain(markup.expr(-2 * (mo.y[mo.i, mo.k] - mo.f[mo.i, mo.k]) * mo.h[mo.i, mo.m]))
    assert printed.startswith("<mn>2</mn><mo>&#8290;</mo>") and printed.index("<mi>f</mi>") < printed.index("<mi>y</mi>")
    assert "&#8722;" in printed and "<mo>-</mo>" not in printed
    total = _plain(markup.expr(sp.Sum(mo.h[mo.i, mo.m], (mo.k, 1, mo.d), (mo.i, 1, mo.n))))
    assert total.count("<munderover>") == 2 and total.index("<mi>i</mi><mo>=</mo>") < total.index("<mi>k</mi><mo>=</mo>")


def test_sigma_prime_has_one_form_in_mathml_too() -> None:
    d = derive(hidden=3, sigma="x/(1+exp(-x))")
    markup = markup_for(d)
    layer = d.model.layer(2)
    at_a = markup.expr(d.forms[2].at(layer.pre[mo.i, layer.unit], layer.post[mo.i, layer.unit]))
    at_u = markup.at(d.forms[2].expr, d.forms[2].function.expr.free_symbols.pop(), markup.expr(sp.Symbol("u", real=True)))
    assert at_a == at_u.replace("<mi>u</mi>", markup.expr(layer.pre[mo.i, layer.unit]))
    # A fraction as in the LaTeX: a e^{−a} over (1 + e^{−a})², not a over (1 + e^{−a})² e^{a}.
    assert _plain(at_a).startswith("<mfrac><msub><mi>a</mi><mi>i</mi><mi>m</mi></msub><mo>&#8290;</mo><msup><mi>e</mi><mo>&#8722;</mo>")


def test_powers_of_tanh_are_written_before_the_argument_as_in_the_latex() -> None:
    from symbp.latex.printer import Printer

    markup = markup_for(derive(hidden=3))
    u = sp.Symbol("u", real=True)
    assert Printer().doprint(1 - sp.tanh(u) ** 2) == r"1 - \tanh^{2}{\left(u \right)}"
    assert _plain(markup.expr(1 - sp.tanh(u) ** 2)) == (
        '<mn>1</mn><mo>&#8722;</mo><msup><mi>tanh</mi><mn>2</mn></msup><mo stretchy="false">(</mo><mi>u</mi><mo stretchy="false">)</mo>'
    )
