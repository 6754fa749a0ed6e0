"""The derivation's formulas as LaTeX: each statement of the derivation printed in symbp's notation.

The LaTeX stage's formulas (ARCHITECTURE.md has the stages).  Every
piece is SymPy output printed by :class:`~symbp.latex.printer.Printer`: the forward
pass, σ′ and g′, the chain rule for each parameter, δ^l, the backpropagation form,
the written-out components (``--expand``).

Each statement is an :data:`Equation`, its left-hand side printed and its right-hand
side a layout (:mod:`symbp.latex.layout`): on one line (``…_tex``, for ``--formulas``,
notebooks and the kernels' docstrings) or broken to fit a page (:func:`block_rows`, for
the document).  The equations are built from pieces a :class:`~symbp.latex.markup.Markup`
prints, LaTeX by default; the web page builds the same equations in MathML.
"""

from __future__ import annotations

import sympy as sp

from symbp.latex.matrix import matrix_lines
from symbp.latex.layout import Formula, Node, Prefixed, Run, Text, equation_rows, flat, run
from symbp.latex.markup import LatexMarkup, Markup
from symbp.latex.printer import Printer
from symbp.latex.width import width
from symbp.spec.functions import X
from symbp.spec.names import check_view
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.derivatives import U
from symbp.symbolic.expand import components, expanded_in_notation
from symbp.spec.network import Loss
from symbp.symbolic.model import R_symbol, d, delta1, drop_output_sums, i, k, k_bound, n, softmax_of, z
from symbp.symbolic.notation import common_factor, is_difference


#: One statement of the derivation: its left-hand side printed, its right-hand side laid out.
Equation = tuple[str, Node]


def printer_for(derivation: Derivation) -> Printer:
    """symbp's LaTeX printer for this derivation: its d, and its σ′ and g′ to print in one form (one printer per derivation)."""
    if "latex printer" not in derivation._cache:
        derivatives = {(layer.pre, layer.post): derivation.forms[layer.number] for layer in derivation.model.parameter_layers}
        derivation._cache["latex printer"] = Printer(outputs=derivation.spec.outputs, derivatives=derivatives)
    return derivation._cache["latex printer"]


def latex_markup(derivation: Derivation) -> LatexMarkup:
    """The pieces of this derivation's equations as LaTeX."""
    return LatexMarkup(printer_for(derivation), derivation.spec.outputs)


def tex(expr: sp.Expr, derivation: Derivation) -> str:
    """One expression of the derivation, in symbp's notation."""
    return printer_for(derivation).doprint(drop_output_sums(expr, derivation.spec.outputs))


def formula(expr: sp.Expr, derivation: Derivation) -> Formula:
    """One expression of the derivation as a layout: printed whole when it fits, else broken at its sums and products."""
    return latex_markup(derivation).formula(expr)


def row(equation: Equation, relation: str = "=") -> str:
    """An equation on one row of an ``align*``: ``lhs &= rhs``."""
    return f"{equation[0]} &{relation} {flat(equation[1])}"


def block_rows(equations: list[Equation]) -> list[str]:
    """The rows of one ``align*`` holding ``equations``, each right-hand side broken to fit beside the widest left-hand side."""
    widest = max((width(lhs) for lhs, _ in equations), default=0.0)
    return [line for lhs, rhs in equations for line in equation_rows(lhs, rhs, lhs_width=widest)]


def product_node(factors: list[sp.Expr], derivation: Derivation, markup: Markup | None = None) -> Node:
    """A product written in the given order (the order of the chain rule), factors of 1 left out.

    Whole numbers and signs are gathered in front (2 (f − y) rather than (2f − 2y)), a negative
    one taken into a difference (2 (f − y), not −2 (y − f)); a sum is bracketed only when it is
    not the whole product.
    """
    markup = markup or latex_markup(derivation)
    coefficient = sp.Integer(1)
    kept: list[sp.Expr] = []
    for factor in factors:
        number, rest = _whole_number_and_rest(drop_output_sums(factor, derivation.spec.outputs))
        coefficient *= number
        if rest != 1:
            kept.append(rest)
    if coefficient.could_extract_minus_sign():
        kept, coefficient = _take_sign(kept, coefficient)
    if not kept:
        return Text(markup.expr(coefficient))
    alone = len(kept) == 1 and coefficient == 1
    items: list[Node] = []
    for rest in kept:
        bracket = not alone and (isinstance(rest, (sp.Add, sp.Sum)) or (isinstance(rest, sp.Mul) and rest.could_extract_minus_sign()))
        items.append(markup.bracketed(markup.formula(rest)) if bracket else markup.formula(rest))
    product = run(items, markup.times)
    return product if coefficient == 1 else Prefixed(markup.coefficient(coefficient), product)


def product_tex(factors: list[sp.Expr], derivation: Derivation) -> str:
    """:func:`product_node` on one line."""
    return flat(product_node(factors, derivation))


def _whole_number_and_rest(factor: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(c, rest) with c a whole number (or −1), times the mean's 1/n, and factor = c · rest: 2f − 2y → (2, f − y), −W → (−1, W).

    The mean's 1/n is gathered in front with the number, (2/n) (f − y) rather than 2 (f − y)/n.
    """
    scale = [part for part in sp.Mul.make_args(factor) if part == 1 / n]
    if scale:
        number, rest = _whole_number_and_rest(factor * n)
        return number / n, rest
    if isinstance(factor, sp.Add):
        shared = common_factor(factor)
        return shared if shared is not None else (sp.Integer(1), factor)
    number, rest = factor.as_coeff_Mul()
    if number.is_Integer:
        return number, rest
    if number.is_Rational and number < 0:
        return sp.Integer(-1), -factor
    return sp.Integer(1), factor


def _take_sign(factors: list[sp.Expr], coefficient: sp.Expr) -> tuple[list[sp.Expr], sp.Expr]:
    """A negative coefficient taken into the first difference among the factors (y − f → f − y), when there is one."""
    for position, factor in enumerate(factors):
        if is_difference(factor):
            return factors[:position] + [-factor] + factors[position + 1 :], -coefficient
    return factors, coefficient


def loss_node(derivation: Derivation, markup: Markup | None = None) -> Node:
    """R's right-hand side: Σ_i Σ_k ℓ (with the mean's 1/n in front: (1/n) Σ_i …), + P when there is a penalty."""
    markup = markup or latex_markup(derivation)
    model = derivation.model
    data: Node = markup.formula(model.data_loss() / model.scale)
    if model.scale != 1:
        data = Prefixed(markup.coefficient(model.scale), data)
    return Run((data, Text(markup.symbol("P"))), (markup.plus,)) if model.penalty != 0 else data


def partial_tex(of: sp.Expr, by: sp.Expr, derivation: Derivation) -> str:
    r"""∂``of``/∂``by`` as a LaTeX fraction, e.g. \frac{\partial R}{\partial W^{2}_{mj}}."""
    return latex_markup(derivation).partial(of, by)


def sum_prefix(limits: tuple[tuple[sp.Symbol, int, sp.Expr], ...], derivation: Derivation) -> str:
    """\\sum_{i=1}^{n} \\sum_{k=1}^{d} … for the sums that are really there (k only when d > 1)."""
    return latex_markup(derivation).sums(limits)


def chain_symbols(name: str, derivation: Derivation, markup: Markup | None = None) -> Node:
    """Σ … ∂R/∂f ∂f/∂z …: the chain rule for one parameter, in symbols (+ ∂P/∂θ, P the penalty)."""
    markup = markup or latex_markup(derivation)
    pg = derivation.parameters[name]
    symbols = run([Text(markup.partial(step.of, step.by)) for step in pg.steps], markup.times)
    chain: Node = Prefixed(markup.sums(pg.sum_limits), symbols)
    if pg.penalty != 0:
        chain = Run((chain, Text(markup.partial(sp.Symbol("P"), pg.component))), (markup.plus,))
    return chain


def chain_product_node(name: str, derivation: Derivation, markup: Markup | None = None) -> Node:
    """Σ … (factor)(factor)…: the chain-rule product for one parameter, with SymPy's factors (+ the penalty's derivative)."""
    markup = markup or latex_markup(derivation)
    pg = derivation.parameters[name]
    product: Node = Prefixed(markup.sums(pg.sum_limits), product_node([s.value for s in pg.steps], derivation, markup))
    if pg.penalty != 0:
        product = Run((product, markup.formula(pg.penalty)), (markup.plus,))
    return product


def chain_product_tex(name: str, derivation: Derivation) -> str:
    """:func:`chain_product_node` on one line."""
    return flat(chain_product_node(name, derivation))


def chain_equation(name: str, derivation: Derivation, markup: Markup | None = None) -> Equation:
    """∂R/∂θ = Σ … (factor)(factor)…, and the gradient written out where the loss's derivative cancels against g′."""
    markup = markup or latex_markup(derivation)
    pg = derivation.parameters[name]
    rhs = chain_product_node(name, derivation, markup)
    if _cancels(derivation):
        # The loss's derivative cancels against g′ (cross-entropy): show the cancelled form too.
        rhs = Run((rhs, markup.formula(derivation.gradient(name))), (markup.equals,))
    return markup.partial(R_symbol, pg.component), rhs


def chain_tex(name: str, derivation: Derivation) -> str:
    """:func:`chain_equation` as one aligned row."""
    return row(chain_equation(name, derivation))


def backprop_equation(name: str, derivation: Derivation, markup: Markup | None = None) -> Equation:
    """∂R/∂θ = Σ_i δ · (∂z/∂θ or ∂a/∂θ) (+ 2λθ)."""
    markup = markup or latex_markup(derivation)
    pg = derivation.parameters[name]
    return markup.partial(R_symbol, pg.component), markup.formula(pg.backprop)


def backprop_tex(name: str, derivation: Derivation) -> str:
    """:func:`backprop_equation` as one aligned row."""
    return row(backprop_equation(name, derivation))


def part_equations(derivation: Derivation, markup: Markup | None = None) -> list[Equation]:
    """∂R/∂θ = Σ_i δ^l … for every parameter, the first of each layer labelled ∇_l R."""
    markup = markup or latex_markup(derivation)
    equations = []
    for layer in derivation.model.parameter_layers:
        for position, name in enumerate(layer.parameter_names):
            lhs, rhs = backprop_equation(name, derivation, markup)
            label = markup.part_label(layer.number) if position == 0 else ""
            equations.append((label + lhs, rhs))
    return equations


def delta_equations(derivation: Derivation, markup: Markup | None = None) -> list[Equation]:
    """δ¹, δ², …: δ^l = ∂R/∂a^l, computed from δ^{l−1}."""
    markup = markup or latex_markup(derivation)
    model = derivation.model
    outer = derivation.parameters["W1"].steps
    first: Node = product_node([s.value for s in outer[:2]], derivation, markup)
    if derivation.spec.loss is Loss.SOFTMAX:  # the softmax's factors meet at every output k'
        first = Prefixed(markup.sums(((k_bound, 1, d),)), first)
    if _cancels(derivation):
        # The loss's derivative cancelled against g′ (cross-entropy): show both.
        first = Run((first, markup.formula(derivation.deltas["delta1"])), (markup.equals,))
    equations = [(markup.expr(delta1[i, k]), Run((Text(markup.partial(R_symbol, z[i, k])), first), (markup.equals,)))]
    for layer in model.hidden_layers:
        above = model.layer(layer.number - 1)
        value = derivation.deltas[f"delta{layer.number}"]
        sum_part = value.atoms(sp.Sum)
        rest = sp.Mul(*[f for f in sp.Mul.make_args(value) if not isinstance(f, sp.Sum)])
        factors = sorted(sum_part, key=str) + [rest]
        factors = [f.xreplace({above.bound: above.unit}) for f in factors]  # Σ_k reads better than Σ_{k'} here
        partial = Text(markup.partial(R_symbol, layer.pre[i, layer.unit]))
        equations.append((markup.expr(layer.delta[i, layer.unit]), Run((partial, product_node(factors, derivation, markup)), (markup.equals,))))
    return equations


def delta_tex(derivation: Derivation) -> list[str]:
    """:func:`delta_equations`, one row each."""
    return [row(equation) for equation in delta_equations(derivation)]


def _cancels(derivation: Derivation) -> bool:
    """The loss's derivative has a denominator that g′ cancels: δ¹ is not the plain product ∂ℓ/∂f g′."""
    outer = derivation.parameters["W1"].steps
    return sp.expand(derivation.deltas["delta1"] - outer[0].value * outer[1].value) != 0


def definition_equations(derivation: Derivation, markup: Markup | None = None) -> list[Equation]:
    """The forward pass, first hidden layer first: a, h (a^l, h^l for each layer), z, f, with σ and g written out."""
    markup = markup or latex_markup(derivation)
    model = derivation.model
    equations = []
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        pre, post = layer.pre[i, layer.unit], layer.post[i, layer.unit]
        definition = model.pre_def(layer, i, layer.unit).xreplace({below.bound: below.unit})
        equations.append((markup.expr(pre), markup.formula(definition)))
        if layer.number == 1 and derivation.spec.loss is Loss.SOFTMAX:
            concrete: Node = markup.formula(softmax_of(pre))
        else:
            concrete = Text(markup.at(model.function_expr(layer), X, markup.expr(pre)))
        equations.append((markup.expr(post), Run((Text(markup.expr(layer.function(pre))), concrete), (markup.equals,))))
    return equations


def definitions_tex(derivation: Derivation) -> list[str]:
    """:func:`definition_equations`, one row each."""
    return [row(equation) for equation in definition_equations(derivation)]


def derivative_equations(derivation: Derivation, markup: Markup | None = None) -> list[Equation]:
    r"""σ(u), σ′(u), g(u), g′(u) as SymPy derived them, and the value form of σ′, g′ when there is one.

    Each is printed by the markup's :meth:`~symbp.latex.markup.Markup.at`, as it is printed at a
    pre-activation in every other formula of the derivation.
    """
    markup = markup or latex_markup(derivation)
    u = markup.expr(U)
    equations: list[Equation] = []
    seen = set()
    for layer in reversed(derivation.model.parameter_layers):
        if layer.number == 1 and derivation.spec.loss is Loss.SOFTMAX:
            continue  # not elementwise: its derivative is the chain's factor ∂f_{ik'}/∂z_{ik}
        if layer.function in seen:
            continue
        seen.add(layer.function)
        form = derivation.forms[layer.number]
        equations.append((markup.expr(layer.function(U)), Text(markup.at(form.function.expr, X, u))))
        derivative = [Text(markup.at(form.expr, X, u))]
        if form.value_form is not None and form.value_form != form.expr.xreplace({X: U}):
            derivative.append(Text(markup.at(form.value_form, U, markup.expr(layer.function(U)))))
        equations.append((markup.expr(layer.prime(U)), run(derivative, markup.equals)))
    return equations


def derivative_tex(derivation: Derivation) -> list[str]:
    """:func:`derivative_equations`, one row each."""
    return [row(equation) for equation in derivative_equations(derivation)]


def gradients_latex(derivation: Derivation, expand: bool = False, display: bool = False, view: str = "component") -> str:
    """The gradient formulas: the generic components (or the matrix form), the forward pass they use.

    Args:
        derivation: what :func:`symbp.derive` returned.
        expand: also write every component for the spec's sizes.
        display: wrap in ``$$ … $$`` with ``aligned`` (for notebooks) instead of ``align*``.
        view: ``"component"`` (one generic component of each gradient) or ``"matrix"``
            (the same gradients as matrix products, with the forward pass in matrix form).
    """
    if check_view(view) == "matrix":
        lines = matrix_lines(derivation)
    else:
        lines = [chain_tex(name, derivation) for name in derivation.parameters]
        definitions = definitions_tex(derivation)
        lines += [r"\text{where}\quad " + definitions[0], *definitions[1:]]
    if expand:
        lines += expanded_lines(derivation)
    body = " \\\\\n".join(lines)
    if display:
        return "$$\\begin{aligned}\n" + body + "\n\\end{aligned}$$"
    return "\\begin{align*}\n" + body + "\n\\end{align*}\n"


def expanded_equations(derivation: Derivation, markup: Markup | None = None) -> list[Equation]:
    """One equation per component of every gradient (``--expand``), in the notation of the derivation."""
    markup = markup or latex_markup(derivation)
    gradients = expanded_in_notation(derivation)
    return [(markup.partial(R_symbol, component), markup.formula(gradients[key])) for key, component in components(derivation).items()]


def expanded_lines(derivation: Derivation) -> list[str]:
    """:func:`expanded_equations`, one row each."""
    return [row(equation) for equation in expanded_equations(derivation)]
