"""The derivation as one self-contained web page (rendered from templates/html/derivation.html.jinja).

The page has the sections of the LaTeX document (:mod:`symbp.latex.document`), its equations
built by the same functions (:mod:`symbp.latex.formulas`) with the MathML markup
(:mod:`symbp.html.mathml`): browsers render MathML natively, so the page needs no script,
no font and no network.  Every equation is one ``<math display="block">``; a browser
scrolls one that is wider than the window instead of breaking it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from symbp.html.mathml import MathMLMarkup, MathMLPrinter, brackets, operator, row, scripts
from symbp.latex.formulas import (
    Equation,
    chain_equation,
    chain_symbols,
    definition_equations,
    delta_equations,
    derivative_equations,
    expanded_equations,
    loss_node,
    part_equations,
    product_node,
)
from symbp.latex.layout import flat
from symbp.latex.matrix import matrix_equations
from symbp.render import render
from symbp.spec.functions import X
from symbp.spec.names import check_view
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.derivatives import U
from symbp.symbolic.model import R_symbol, f, i, k, y, z

TEMPLATE = "html/derivation.html.jinja"

#: The vector of all parameters, a bold a (MathML Core renders mathvariant as normal only, so the letter itself).
_BOLD_A = "<mi>&#119834;</mi>"
#: Displays of one block: each a ``<math display="block">`` element, printed.
Displays = tuple[str, ...]


@dataclass(frozen=True)
class PageSection:
    """The derivation for one parameter, as the document's section: the chain rule, each factor, their product."""

    name: str
    chain: Displays
    steps: Displays
    product: Displays


@dataclass(frozen=True)
class PageContext:
    """Everything the page template places, printed: MathML (``<math>`` elements) and escaped text.

    Attributes:
        template, spec_line: for the header comment; title: the page's title as text.
        sizes, sigma, g: the subtitle (inline math).
        inputs, outputs, depth: the input size (None when p is symbolic) and the output size as inline math; the number of hidden layers.
        model, layer_lines, definitions, unit_ranges, derivatives: the model section.
        loss, penalty, l2, stable_loss, loss_term, parameters_vector, descent: the loss and gradient descent; mean: R is divided by n.
        sections, deltas, parts, matrix, expanded, expanded_title: as in the document.
    """

    template: str
    spec_line: str
    title: str
    sizes: str
    sigma: str
    g: str
    inputs: str | None
    outputs: str
    depth: int
    model: Displays
    layer_lines: tuple[str, ...]
    definitions: Displays
    unit_ranges: str
    derivatives: Displays
    loss: Displays
    mean: bool
    penalty: Displays
    l2: str
    stable_loss: Displays
    loss_term: str
    parameters_vector: str
    descent: Displays
    sections: tuple[PageSection, ...]
    deltas: Displays
    parts: Displays
    matrix: Displays
    expanded: Displays
    expanded_title: str


def render_page(derivation: Derivation, expand: bool = False, view: str = "component") -> str:
    """The derivation as one HTML page with MathML, the sections of :meth:`Derivation.document`.

    Args:
        derivation: what :func:`symbp.derive` returned.
        expand: add the section with every component for the spec's sizes.
        view: ``"matrix"`` adds the section with the matrix form.

    Returns:
        The page, a complete HTML document.

    Example:
        >>> from symbp.symbolic.derivation import derive
        >>> "<math" in render_page(derive(hidden=2))
        True
    """
    return render(TEMPLATE, page=page_context(derivation, expand=expand, view=view))


def markup_for(derivation: Derivation) -> MathMLMarkup:
    """The MathML markup of this derivation: its d, and its σ′ and g′ to print in one form."""
    derivatives = {(layer.pre, layer.post): derivation.forms[layer.number] for layer in derivation.model.parameter_layers}
    return MathMLMarkup(MathMLPrinter(derivation.spec.outputs, derivatives), derivation.spec.outputs)


def page_context(derivation: Derivation, expand: bool = False, view: str = "component") -> PageContext:
    """Print every piece of the page (see :class:`PageContext`)."""
    spec, model = derivation.spec, derivation.model
    markup = markup_for(derivation)
    stable = model.loss_in_z(y[i, k], z[i, k])
    loss_term = markup.expr(model.loss_term(y[i, k], f[i, k]))
    loss = loss_node(derivation, markup)
    return PageContext(
        template=TEMPLATE,
        spec_line=spec.describe(),
        title=f"Backpropagation for a network with {'one hidden layer' if spec.depth == 1 else f'{spec.depth} hidden layers'}",
        sizes=_sizes(derivation),
        sigma=", ".join(inline(text) for text in _sigma_texts(derivation, markup)),
        g=inline(row(markup.expr(derivation.model.layer(1).function(U)), operator("="), markup.at(spec.g.expr, X, markup.expr(U)))),
        inputs=None if spec.inputs is None else inline(row("<mi>p</mi>", operator("="), f"<mn>{spec.inputs}</mn>")),
        outputs=inline(row("<mi>d</mi>", operator("="), f"<mn>{spec.outputs}</mn>")),
        depth=spec.depth,
        model=(display(row("<mi>f</mi>", brackets("<mi>x</mi>")), _model_formula(spec.depth)),),
        layer_lines=tuple(_layer_lines(derivation, markup)),
        definitions=displays(definition_equations(derivation, markup)),
        unit_ranges=", ".join(_unit_ranges(derivation, markup)),
        derivatives=displays(derivative_equations(derivation, markup)),
        loss=(display("<mi>R</mi>", flat(loss)),),
        mean=spec.mean,
        penalty=(display("<mi>P</mi>", markup.expr(model.penalty)),) if model.penalty != 0 else (),
        l2=inline(row("<mi>&#955;</mi>", operator("="), f"<mn>{spec.l2!r}</mn>")),
        stable_loss=(display(loss_term, markup.expr(stable)),) if stable is not None else (),
        loss_term=inline(loss_term),
        parameters_vector=inline(row(_BOLD_A, operator("="), brackets(_parameter_symbols(derivation)))),
        descent=(display(_iterate("l+1"), row(_iterate("l"), operator("&#8722;"), scripts("<mi>&#947;</mi>", "<mi>l</mi>"), operator("&#8711;"), "<mi>R</mi>", brackets(_iterate("l")))),),
        sections=tuple(_section(name, derivation, markup) for name in derivation.parameters),
        deltas=displays(delta_equations(derivation, markup)),
        parts=displays(part_equations(derivation, markup)),
        matrix=displays(matrix_equations(derivation, markup)) if check_view(view) == "matrix" else (),
        expanded=displays(expanded_equations(derivation, markup)) if expand else (),
        expanded_title=f"Every component for hidden size {escape(spec.hidden_text())}, p = {spec.inputs}" if expand else "",
    )


def inline(content: str) -> str:
    """MathML within a sentence."""
    return f"<math>{row(content)}</math>"


def display(lhs: str, rhs: str) -> str:
    """``lhs = rhs`` as a displayed equation."""
    return f'<math display="block">{row(lhs, operator("="), rhs)}</math>'


def displays(equations: list[Equation]) -> Displays:
    """One displayed equation for each of ``equations``."""
    return tuple(display(lhs, flat(rhs)) for lhs, rhs in equations)


def _section(name: str, derivation: Derivation, markup: MathMLMarkup) -> PageSection:
    gradient = derivation.parameters[name]
    symbol = markup.partial(R_symbol, gradient.component)
    steps = [(markup.partial(step.of, step.by), product_node([step.value], derivation, markup)) for step in gradient.steps]
    return PageSection(
        name=inline(markup.expr(gradient.component)),
        chain=(display(symbol, flat(chain_symbols(name, derivation, markup))),),
        steps=displays(steps),
        product=displays([chain_equation(name, derivation, markup)]),
    )


def _sizes(derivation: Derivation) -> str:
    spec = derivation.spec
    if spec.depth == 1:
        return inline(row("<mi>M</mi>", operator("="), f"<mn>{spec.hidden[0]}</mn>")) + " hidden units"
    return "hidden sizes " + inline(row(*(f"<mn>{size}</mn>" for size in spec.hidden))).replace("</mn><mn>", "</mn><mo>,</mo><mn>") + " (input to output)"


def _sigma_texts(derivation: Derivation, markup: MathMLMarkup) -> list[str]:
    spec = derivation.spec
    layers = derivation.model.hidden_layers[:1] if spec.uniform_sigma else derivation.model.hidden_layers
    u = markup.expr(U)
    return [row(markup.expr(layer.function(U)), operator("="), markup.at(spec.activation(layer.number).expr, X, u)) for layer in layers]


def _model_formula(depth: int) -> str:
    """g(A¹(s(A²(x)))), nested as deep as the network."""
    inner = "<mi>x</mi>"
    for number in range(depth + 1, 1, -1):
        inner = row("<mi>s</mi>", brackets(row(scripts("<mi>A</mi>", sup=f"<mn>{number}</mn>"), brackets(inner))))
    return row("<mi>g</mi>", brackets(row(scripts("<mi>A</mi>", sup="<mn>1</mn>"), brackets(inner))))


def _layer_lines(derivation: Derivation, markup: MathMLMarkup) -> list[str]:
    """One sentence per layer, as in the document: A^l(v) = W^l v + b^l, the shapes of W^l and b^l, and each hidden layer's size."""
    model, spec = derivation.model, derivation.spec
    lines = []
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        number = f"<mn>{layer.number}</mn>"
        rows, cols = markup.expr(layer.size), markup.expr(below.size)
        argument = "<mi>x</mi>" if below.is_input else scripts("<mi>h</mi>", sup=f"<mn>{below.number}</mn>" if spec.depth > 1 else "")
        W, b = scripts("<mi>W</mi>", sup=number), scripts("<mi>b</mi>", sup=number)
        reals = "<mi>&#8477;</mi>"
        definition = inline(row(scripts("<mi>A</mi>", sup=number), brackets(argument), operator("="), W, argument, operator("+"), b))
        shapes = inline(row(W, operator("&#8712;"), scripts(reals, sup=row(rows, operator("&#215;"), cols)))) + ", " + inline(row(b, operator("&#8712;"), scripts(reals, sup=rows)))
        if layer.number == 1:
            role = "the output layer"
        else:
            which = "the hidden layer" if spec.depth == 1 else ("the first hidden layer" if below.is_input else "a hidden layer")
            role = f"{which} ({inline(row(rows, operator('='), f'<mn>{spec.size(layer.number)}</mn>'))} units)"
        lines.append(f"{definition} with {shapes} is {role}")
    return lines


def _unit_ranges(derivation: Derivation, markup: MathMLMarkup) -> list[str]:
    """i = 1, …, n and the like, for every index of the notation."""
    ranges = [("<mi>i</mi>", "<mi>n</mi>")] + [(markup.expr(layer.unit), markup.expr(layer.size)) for layer in derivation.model.layers if layer.number != 1]
    return [inline(row(index, operator("="), "<mn>1</mn>", operator(","), operator("&#8230;"), operator(","), size)) for index, size in ranges]


def _parameter_symbols(derivation: Derivation) -> str:
    symbols = [scripts(f"<mi>{name[0]}</mi>", sup=f"<mn>{name[1:]}</mn>") for name in derivation.parameters]
    if len(symbols) > 6:
        symbols = [*symbols[:4], operator("&#8230;"), *symbols[-2:]]
    return operator(",").join(symbols)


def _iterate(step: str) -> str:
    """a_l, the parameters after step l (bold a)."""
    return scripts(_BOLD_A, "".join(f"<mi>{c}</mi>" if c.isalpha() else (f"<mn>{c}</mn>" if c.isdigit() else operator(c)) for c in step))

