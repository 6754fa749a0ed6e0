"""The derivation as a complete LaTeX article (rendered from templates/latex/derivation.tex.jinja).

Builds the printed pieces — every one of them SymPy output run through
:mod:`symbp.latex` — and hands them to the template, which only places them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from symbp.latex import formulas as lx
from symbp.symbolic import model as mo
from symbp.render import render

if TYPE_CHECKING:
    from symbp.symbolic.derivation import Derivation

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


@dataclass(frozen=True)
class LayerPart:
    """The gradient with respect to one layer's parameters, ∇_l R, printed."""

    number: int
    sections: tuple[ParameterSection, ...]


def render_document(derivation: Derivation, expand: bool = False, view: str = "component") -> str:
    """A standalone article: model, loss, gradient descent, the chain rule step by step, ∇_l R for every layer.

    With ``view="matrix"`` a section gives the same gradients in matrix form.
    """
    spec = derivation.spec
    model = derivation.model
    i, k = mo.i, mo.k
    sections = [_section(name, derivation) for name in derivation.parameters]
    parts = [LayerPart(layer.number, tuple(s for s in sections if s.layer == layer.number)) for layer in model.parameter_layers]
    expanded: list[str] = []
    if expand:
        from symbp.symbolic.expand import expanded_lines

        expanded = expanded_lines(derivation)
    matrix: list[str] = []
    if lx.check_view(view) == "matrix":
        from symbp.symbolic.matrix import matrix_lines

        matrix = matrix_lines(derivation)
    u = sp.Symbol("u")
    stable = model.loss_in_z(mo.y[i, k], mo.z[i, k])
    L = spec.depth
    return render(
        TEMPLATE,
        template=TEMPLATE,
        spec_line=spec.describe(),
        title=_title(spec),
        depth=L,
        hidden=spec.hidden_text(),
        outputs=spec.outputs,
        inputs=None if spec.inputs is None else str(spec.inputs),
        sigma=", ".join(_sigma_texts(derivation, u)),
        g=lx.tex(spec.g.expr.xreplace({lx.X: u}), derivation),
        model_formula=_model_formula(L),
        layer_lines=_layer_lines(derivation),
        unit_ranges=_unit_ranges(derivation),
        definitions=lx.definitions_tex(derivation),
        derivatives=lx.derivative_tex(derivation),
        loss=lx.tex(model.total_loss(), derivation),
        loss_term=lx.tex(model.loss_term(mo.y[i, k], mo.f[i, k]), derivation),
        stable_loss=None if stable is None else lx.tex(stable, derivation),
        penalty=None if model.penalty == 0 else lx.tex(model.penalty, derivation),
        l2=repr(spec.l2),
        parameters_vector=", ".join(_parameter_symbols(derivation)),
        sections=sections,
        parts=parts,
        deltas=lx.delta_tex(derivation),
        expanded=expanded,
        matrix=matrix,
    )


def _title(spec) -> str:
    layers = "one hidden layer" if spec.depth == 1 else f"{spec.depth} hidden layers"
    sizes = f"$M = {spec.hidden[0]}$ hidden units" if spec.depth == 1 else f"hidden sizes ${spec.hidden_text()}$ (input to output)"
    return f"Backpropagation for a network with {layers}\\\\[0.5ex]\n\\large {sizes}"


def _sigma_texts(derivation: Derivation, u: sp.Symbol) -> list[str]:
    spec = derivation.spec
    if spec.uniform_sigma:
        return [rf"\sigma(u) = {lx.tex(spec.sigma[0].expr.xreplace({lx.X: u}), derivation)}"]
    return [
        rf"\sigma_{{{layer.number}}}(u) = {lx.tex(spec.activation(layer.number).expr.xreplace({lx.X: u}), derivation)}"
        for layer in derivation.model.hidden_layers
    ]


def _model_formula(depth: int) -> str:
    """g(A¹(s(A²(x)))) for one hidden layer, g(A¹(s(A²(s(A³(x)))))) for two, …"""
    inner = "x"
    for number in range(depth + 1, 1, -1):
        inner = f"s(A^{{{number}}}({inner}))"
    return rf"g\bigl(A^{{1}}({inner})\bigr)"


def _layer_lines(derivation: Derivation) -> list[str]:
    """One sentence per layer: A^l(v) = W^l v + b^l with the shapes of W^l and b^l."""
    model = derivation.model
    lines = []
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        rows, cols = lx.tex(layer.size, derivation), lx.tex(below.size, derivation)
        argument = "x" if below.is_input else lx.tex(sp.Symbol(str(below.post.label)), derivation)
        role = "the output layer" if layer.number == 1 else ("the first hidden layer" if below.is_input else "a hidden layer")
        lines.append(
            rf"$A^{{{layer.number}}}({argument}) = W^{{{layer.number}}} {argument} + b^{{{layer.number}}}$ with "
            rf"$W^{{{layer.number}}} \in \mathbb{{R}}^{{{rows} \times {cols}}}$, $b^{{{layer.number}}} \in \mathbb{{R}}^{{{rows}}}$ is {role}"
        )
    return lines


def _unit_ranges(derivation: Derivation) -> str:
    """$m = 1, \\dots, M$ and the like, for every index of the notation."""
    model = derivation.model
    ranges = [rf"${layer.unit} = 1, \dots, {lx.tex(layer.size, derivation)}$" for layer in model.layers if layer.number != 1]
    return ", ".join(ranges)


def _parameter_symbols(derivation: Derivation) -> list[str]:
    return [("W" if name.startswith("W") else "b") + "^{" + name[1:] + "}" for name in derivation.parameters]


def _section(name: str, derivation: Derivation) -> ParameterSection:
    pg = derivation.parameters[name]
    prefix = lx.sum_prefix(pg.sum_limits, derivation)
    symbols = [lx.partial_tex(s.of, s.by, derivation) for s in pg.steps]
    steps = tuple(Step(symbol, lx.product_tex([s.value], derivation)) for symbol, s in zip(symbols, pg.steps))
    chain = prefix + " \\, ".join(symbols)
    if pg.penalty != 0:
        # P is the penalty λ Σ_l ‖W^l‖²; its derivative is the last term.
        chain += " + " + lx.partial_tex(sp.Symbol("P"), pg.component, derivation)
    return ParameterSection(
        name=lx.tex(pg.component, derivation),
        gradient=lx.partial_tex(mo.R_symbol, pg.component, derivation),
        chain=chain,
        steps=steps,
        product=lx.chain_product_tex(name, derivation),
        backprop=lx.tex(pg.backprop, derivation),
        layer=pg.layer,
    )
