"""The derivation as a complete LaTeX article (rendered from templates/latex/derivation.tex.jinja).

Builds the printed pieces — every one of them SymPy output run through
:mod:`symbp.latex` — and hands them to the template, which only places them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from symbp import latex as lx
from symbp import model as mo
from symbp.render import render

if TYPE_CHECKING:
    from symbp.derivation import Derivation

TEMPLATE = "latex/derivation.tex.jinja"


@dataclass(frozen=True)
class Step:
    """One chain-rule factor, printed: the symbol ∂A/∂B and its value."""

    symbol: str
    value: str


@dataclass(frozen=True)
class ParameterSection:
    """The printed derivation for one parameter."""

    name: str  # e.g. W^{2}_{mj}
    gradient: str  # \frac{\partial R}{\partial W^{2}_{mj}}
    chain: str  # \sum_i \frac{\partial R}{\partial f} \frac{\partial f}{\partial z} ...
    steps: tuple[Step, ...]
    product: str  # \sum_i (value)(value)...
    backprop: str  # \sum_i \delta^{2}_{im} x_{ij}
    layer: int  # 1 for A¹'s parameters, 2 for A²'s


def render_document(derivation: Derivation, expand: bool = False) -> str:
    """A standalone article: model, loss, gradient descent, the chain rule step by step, ∇₁R and ∇₂R."""
    spec = derivation.spec
    i, k = mo.i, mo.k
    loss = sp.Sum(mo.loss_term(mo.y[i, k], mo.f[i, k]), (k, 1, mo.d), (i, 1, mo.n))
    sections = [_section(name, derivation) for name in mo.PARAMETERS]
    expanded: list[str] = []
    if expand:
        from symbp.expand import expanded_lines

        expanded = expanded_lines(derivation)
    return render(
        TEMPLATE,
        template=TEMPLATE,
        spec_line=spec.describe(),
        hidden=spec.hidden,
        outputs=spec.outputs,
        inputs=None if spec.inputs is None else str(spec.inputs),
        sigma=lx.tex(spec.sigma.expr.xreplace({lx.X: sp.Symbol("u")}), derivation),
        g=lx.tex(spec.g.expr.xreplace({lx.X: sp.Symbol("u")}), derivation),
        definitions=lx.definitions_tex(derivation),
        derivatives=lx.derivative_tex(derivation),
        loss=lx.tex(loss, derivation),
        loss_term=lx.tex(mo.loss_term(mo.y[i, k], mo.f[i, k]), derivation),
        sections=sections,
        deltas=lx.delta_tex(derivation),
        expanded=expanded,
    )


def _section(name: str, derivation: Derivation) -> ParameterSection:
    pg = derivation.parameters[name]
    prefix = lx.sum_prefix(pg.sum_indices, derivation)
    symbols = [lx.partial_tex(s.of, s.by, derivation) for s in pg.steps]
    steps = tuple(Step(symbol, lx.product_tex([s.value], derivation)) for symbol, s in zip(symbols, pg.steps))
    return ParameterSection(
        name=lx.tex(pg.component, derivation),
        gradient=lx.partial_tex(mo.R_symbol, pg.component, derivation),
        chain=prefix + " \\, ".join(symbols),
        steps=steps,
        product=lx.chain_product_tex(name, derivation),
        backprop=lx.tex(pg.backprop, derivation),
        layer=1 if name in ("W1", "b1") else 2,
    )
