"""The derivation's formulas as LaTeX: each statement of the derivation printed in symbp's notation.

The LaTeX stage's formulas (ARCHITECTURE.md has the stages).  Every
piece is SymPy output printed by :class:`~symbp.latex.printer.Printer`: the forward
pass, σ′ and g′, the chain rule for each parameter, δ^l, the backpropagation form,
the written-out components (``--expand``).
"""

from __future__ import annotations

import sympy as sp

from symbp.latex.matrix import matrix_lines
from symbp.latex.printer import Printer
from symbp.spec.functions import X
from symbp.spec.names import check_view
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.derivatives import U
from symbp.symbolic.expand import abbreviate_expanded, components, expanded_gradients
from symbp.symbolic.model import R_symbol, delta1, drop_output_sums, i, k, k_bound, z


def printer_for(derivation: Derivation) -> Printer:
    return Printer(outputs=derivation.spec.outputs)


def tex(expr: sp.Expr, derivation: Derivation) -> str:
    """One expression of the derivation, in symbp's notation."""
    return printer_for(derivation).doprint(drop_output_sums(expr, derivation.spec.outputs))


def product_tex(factors: list[sp.Expr], derivation: Derivation) -> str:
    """A product written in the given order (the order of the chain rule), factors of 1 left out."""
    printer = printer_for(derivation)
    coefficient = sp.Integer(1)
    parts: list[str] = []
    for factor in factors:
        factor = drop_output_sums(factor, derivation.spec.outputs)
        c, rest = factor.as_coeff_Mul() if not isinstance(factor, sp.Add) else (sp.Integer(1), factor)
        if isinstance(rest, sp.Add):
            # Pull out a common number only: 2f - 2y prints as 2 (f - y).
            c2, rest = rest.primitive()
            c *= c2
        coefficient *= c
        if rest == 1:
            continue
        printed = printer.doprint(rest)
        if isinstance(rest, (sp.Add, sp.Sum)) or (isinstance(rest, sp.Mul) and len(parts) + len(factors) > 1 and rest.could_extract_minus_sign()):
            printed = rf"\left({printed}\right)"
        parts.append(printed)
    if not parts:
        return printer.doprint(coefficient)
    lead = "" if coefficient == 1 else ("-" if coefficient == -1 else printer.doprint(coefficient) + " ")
    return lead + r" \, ".join(parts)


def partial_tex(of: sp.Expr, by: sp.Expr, derivation: Derivation) -> str:
    r"""∂``of``/∂``by`` as a LaTeX fraction, e.g. \frac{\partial R}{\partial W^{2}_{mj}}."""
    return rf"\frac{{\partial {tex(of, derivation)}}}{{\partial {tex(by, derivation)}}}"


def sum_prefix(limits: tuple[tuple[sp.Symbol, int, sp.Expr], ...], derivation: Derivation) -> str:
    """\\sum_{i=1}^{n} \\sum_{k=1}^{d} … for the sums that are really there (k only when d > 1)."""
    parts = []
    for index, _, size in reversed(limits):
        if derivation.spec.outputs == 1 and index in (k, k_bound):
            continue
        parts.append(rf"\sum_{{{index}=1}}^{{{tex(size, derivation)}}}")
    return " ".join(parts) + (" " if parts else "")


def chain_product_tex(name: str, derivation: Derivation) -> str:
    """Σ … (factor)(factor)…: the chain-rule product for one parameter, with SymPy's factors (+ the penalty's derivative)."""
    pg = derivation.parameters[name]
    product = sum_prefix(pg.sum_limits, derivation) + product_tex([s.value for s in pg.steps], derivation)
    if pg.penalty != 0:
        product += " + " + tex(pg.penalty, derivation)
    return product


def chain_tex(name: str, derivation: Derivation) -> str:
    """∂R/∂θ = Σ … (factor)(factor)…, one aligned line."""
    pg = derivation.parameters[name]
    line = rf"{partial_tex(R_symbol, pg.component, derivation)} &= {chain_product_tex(name, derivation)}"
    steps = pg.steps
    if sp.expand(derivation.deltas["delta1"] - steps[0].value * steps[1].value) != 0:
        # The loss's derivative cancels against g′ (cross-entropy): show the cancelled form too.
        line += " = " + tex(pg.direct, derivation)
    return line


def backprop_tex(name: str, derivation: Derivation) -> str:
    """∂R/∂θ = Σ_i δ · (∂z/∂θ or ∂a/∂θ) (+ 2λθ)."""
    pg = derivation.parameters[name]
    return rf"{partial_tex(R_symbol, pg.component, derivation)} &= {tex(pg.backprop, derivation)}"


def delta_tex(derivation: Derivation) -> list[str]:
    """δ¹, δ², … as equations (one LaTeX line each): δ^l = ∂R/∂a^l, computed from δ^{l−1}."""
    model = derivation.model
    outer = derivation.parameters["W1"].steps
    lines = [rf"{tex(delta1[i, k], derivation)} &= {partial_tex(R_symbol, z[i, k], derivation)} = {_delta1_tex(derivation, outer)}"]
    for layer in model.hidden_layers:
        above = model.layer(layer.number - 1)
        value = derivation.deltas[f"delta{layer.number}"]
        sum_part = value.atoms(sp.Sum)
        rest = sp.Mul(*[f for f in sp.Mul.make_args(value) if not isinstance(f, sp.Sum)])
        factors = sorted(sum_part, key=str) + [rest]
        factors = [f.xreplace({above.bound: above.unit}) for f in factors]  # Σ_k reads better than Σ_{k'} here
        lines.append(
            rf"{tex(layer.delta[i, layer.unit], derivation)} &= {partial_tex(R_symbol, layer.pre[i, layer.unit], derivation)} = {product_tex(factors, derivation)}"
        )
    return lines


def _delta1_tex(derivation: Derivation, outer: tuple) -> str:
    product = product_tex([s.value for s in outer[:2]], derivation)
    delta1 = derivation.deltas["delta1"]
    if sp.expand(delta1 - outer[0].value * outer[1].value) != 0:
        # The loss's derivative cancelled against g′ (cross-entropy): show both.
        return product + " = " + tex(delta1, derivation)
    return product


def definitions_tex(derivation: Derivation) -> list[str]:
    """The forward pass, first hidden layer first: a, h (a^l, h^l for each layer), z, f, with σ and g written out."""
    model = derivation.model
    lines = []
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        pre, post = layer.pre[i, layer.unit], layer.post[i, layer.unit]
        definition = model.pre_def(layer, i, layer.unit).xreplace({below.bound: below.unit})
        lines.append(rf"{tex(pre, derivation)} &= {tex(definition, derivation)}")
        abstract = tex(layer.function(pre), derivation)
        lines.append(rf"{tex(post, derivation)} &= {abstract} = {tex(model.concrete(layer, pre), derivation)}")
    return lines


def derivative_tex(derivation: Derivation) -> list[str]:
    r"""σ(u), σ′(u), g(u), g′(u) as SymPy derived them, and the value form of σ′, g′ when there is one."""
    u = U
    lines = []
    seen = set()
    for layer in reversed(derivation.model.parameter_layers):
        if layer.function in seen:
            continue
        seen.add(layer.function)
        form = derivation.forms[layer.number]
        line = rf"{tex(layer.function(u), derivation)} &= {tex(form.function.expr.xreplace({X: u}), derivation)}, \\"
        line += "\n" + rf"{tex(layer.prime(u), derivation)} &= {tex(form.expr.xreplace({X: u}), derivation)}"
        if form.value_form is not None and form.value_form != form.expr.xreplace({X: u}):
            line += rf" = {tex(form.value_form.xreplace({U: layer.function(u)}), derivation)}"
        lines.append(line)
    return lines


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


def expanded_lines(derivation: Derivation) -> list[str]:
    """One LaTeX equation per component of every gradient (``--expand``), with the intermediates named."""
    lines = []
    gradients = expanded_gradients(derivation)
    for key, component in components(derivation).items():
        value = abbreviate_expanded(gradients[key], derivation)
        lines.append(rf"{partial_tex(R_symbol, component, derivation)} &= {tex(value, derivation)}")
    return lines
