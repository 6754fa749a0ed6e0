"""The derivation as a complete LaTeX article (rendered from templates/latex/derivation.tex.jinja).

Reads as its stage: derivation → :func:`document_context` (every piece of LaTeX
printed here, from SymPy output, into one :class:`DocumentContext`) → the template,
which only places those strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.latex.formulas import (
    chain_product_tex,
    definitions_tex,
    delta_tex,
    derivative_tex,
    expanded_lines,
    partial_tex,
    product_tex,
    sum_prefix,
    tex,
)
from symbp.latex.matrix import matrix_lines
from symbp.render import render
from symbp.spec.names import check_view
from symbp.spec.network import Spec
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.derivatives import U
from symbp.symbolic.model import R_symbol, f, i, k, y, z
from symbp.spec.functions import X

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


@dataclass(frozen=True)
class DocumentContext:
    """Everything the document template places, already printed: LaTeX strings and the few numbers it shows.

    Attributes:
        template, spec_line: for the header comment.
        title, sigma, g: the title block (σ and g written out in u).
        depth, hidden, inputs, outputs: the sizes, as text (inputs None when p is symbolic).
        model_formula, layer_lines, definitions, unit_ranges, derivatives: the model section.
        loss, loss_term, stable_loss, penalty, l2, parameters_vector: the loss and gradient descent.
        sections, parts, deltas: the chain rule per parameter, δ^l, ∇_l R.
        matrix, expanded: the optional sections (empty when not asked for).
    """

    template: str
    spec_line: str
    title: str
    sigma: str
    g: str
    depth: int
    hidden: str
    inputs: str | None
    outputs: int
    model_formula: str
    layer_lines: tuple[str, ...]
    definitions: tuple[str, ...]
    unit_ranges: str
    derivatives: tuple[str, ...]
    loss: str
    loss_term: str
    stable_loss: str | None
    penalty: str | None
    l2: str
    parameters_vector: str
    sections: tuple[ParameterSection, ...]
    parts: tuple[LayerPart, ...]
    deltas: tuple[str, ...]
    matrix: tuple[str, ...]
    expanded: tuple[str, ...]


def render_document(derivation: Derivation, expand: bool = False, view: str = "component") -> str:
    """A standalone article: model, loss, gradient descent, the chain rule step by step, ∇_l R for every layer.

    Args:
        derivation: what :func:`symbp.derive` returned.
        expand: add a section with every component for the spec's sizes.
        view: ``"matrix"`` adds a section with the same gradients in matrix form.

    Returns:
        The LaTeX source.
    """
    return render(TEMPLATE, doc=document_context(derivation, expand=expand, view=view))


def document_context(derivation: Derivation, expand: bool = False, view: str = "component") -> DocumentContext:
    """Print every piece of the document (see :class:`DocumentContext`)."""
    spec, model = derivation.spec, derivation.model
    sections = tuple(_section(name, derivation) for name in derivation.parameters)
    parts = tuple(LayerPart(layer.number, tuple(s for s in sections if s.layer == layer.number)) for layer in model.parameter_layers)
    stable = model.loss_in_z(y[i, k], z[i, k])
    return DocumentContext(
        template=TEMPLATE,
        spec_line=spec.describe(),
        title=_title(spec),
        sigma=", ".join(_sigma_texts(derivation)),
        g=tex(spec.g.expr.xreplace({X: U}), derivation),
        depth=spec.depth,
        hidden=spec.hidden_text(),
        inputs=None if spec.inputs is None else str(spec.inputs),
        outputs=spec.outputs,
        model_formula=_model_formula(spec.depth),
        layer_lines=tuple(_layer_lines(derivation)),
        definitions=tuple(definitions_tex(derivation)),
        unit_ranges=_unit_ranges(derivation),
        derivatives=tuple(derivative_tex(derivation)),
        loss=tex(model.total_loss(), derivation),
        loss_term=tex(model.loss_term(y[i, k], f[i, k]), derivation),
        stable_loss=None if stable is None else tex(stable, derivation),
        penalty=None if model.penalty == 0 else tex(model.penalty, derivation),
        l2=repr(spec.l2),
        parameters_vector=", ".join(_parameter_symbols(derivation)),
        sections=sections,
        parts=parts,
        deltas=tuple(delta_tex(derivation)),
        matrix=tuple(matrix_lines(derivation)) if check_view(view) == "matrix" else (),
        expanded=tuple(expanded_lines(derivation)) if expand else (),
    )


def _title(spec: Spec) -> str:
    layers = "one hidden layer" if spec.depth == 1 else f"{spec.depth} hidden layers"
    sizes = f"$M = {spec.hidden[0]}$ hidden units" if spec.depth == 1 else f"hidden sizes ${spec.hidden_text()}$ (input to output)"
    return f"Backpropagation for a network with {layers}\\\\[0.5ex]\n\\large {sizes}"


def _sigma_texts(derivation: Derivation) -> list[str]:
    spec = derivation.spec
    if spec.uniform_sigma:
        return [rf"\sigma(u) = {tex(spec.sigma[0].expr.xreplace({X: U}), derivation)}"]
    return [
        rf"\sigma_{{{layer.number}}}(u) = {tex(spec.activation(layer.number).expr.xreplace({X: U}), derivation)}"
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
        rows, cols = tex(layer.size, derivation), tex(below.size, derivation)
        argument = "x" if below.is_input else tex(sp.Symbol(str(below.post.label)), derivation)
        role = "the output layer" if layer.number == 1 else ("the first hidden layer" if below.is_input else "a hidden layer")
        lines.append(
            rf"$A^{{{layer.number}}}({argument}) = W^{{{layer.number}}} {argument} + b^{{{layer.number}}}$ with "
            rf"$W^{{{layer.number}}} \in \mathbb{{R}}^{{{rows} \times {cols}}}$, $b^{{{layer.number}}} \in \mathbb{{R}}^{{{rows}}}$ is {role}"
        )
    return lines


def _unit_ranges(derivation: Derivation) -> str:
    """$m = 1, \\dots, M$ and the like, for every index of the notation."""
    model = derivation.model
    ranges = [rf"${layer.unit} = 1, \dots, {tex(layer.size, derivation)}$" for layer in model.layers if layer.number != 1]
    return ", ".join(ranges)


def _parameter_symbols(derivation: Derivation) -> list[str]:
    return [("W" if name.startswith("W") else "b") + "^{" + name[1:] + "}" for name in derivation.parameters]


def _section(name: str, derivation: Derivation) -> ParameterSection:
    gradient = derivation.parameters[name]
    prefix = sum_prefix(gradient.sum_limits, derivation)
    symbols = [partial_tex(step.of, step.by, derivation) for step in gradient.steps]
    steps = tuple(Step(symbol, product_tex([step.value], derivation)) for symbol, step in zip(symbols, gradient.steps))
    chain = prefix + " \\, ".join(symbols)
    if gradient.penalty != 0:
        # P is the penalty λ Σ_l ‖W^l‖²; its derivative is the last term.
        chain += " + " + partial_tex(sp.Symbol("P"), gradient.component, derivation)
    return ParameterSection(
        name=tex(gradient.component, derivation),
        gradient=partial_tex(R_symbol, gradient.component, derivation),
        chain=chain,
        steps=steps,
        product=chain_product_tex(name, derivation),
        backprop=tex(gradient.backprop, derivation),
        layer=gradient.layer,
    )
