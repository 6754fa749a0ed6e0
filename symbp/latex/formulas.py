"""Printing the derivation as LaTeX, in symbp's notation (README, "Notation").

Fourth stage of the pipeline (… → derivation → **printing** → rendering).
:class:`Printer` subclasses SymPy's ``LatexPrinter`` and overrides only what
the notation needs: array names (W¹_{mj}, f(x_i)), σ/σ′/g/g′, the unit step,
and the order of terms (positive terms first: y_i − f(x_i), not −f(x_i) + y_i).
With one output (d = 1) the output index is dropped, as in the textbook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symbp.symbolic import model as mo
from symbp.symbolic.derivation import VALUE
from symbp.spec.functions import X
from symbp.spec.names import VIEWS

if TYPE_CHECKING:
    from symbp.symbolic.derivation import Derivation

#: How each array is written: (LaTeX stem, position of the output axis or None).
_NAMES: dict[str, tuple[str, int | None]] = {
    "x": ("x", None),
    "y": ("y", 1),
    "a": ("a", None),
    "h": ("h", None),
    "z": ("z", 1),
    "f": ("f", 1),
}
_LAYERED = re.compile(r"^(W|b|a|h|delta)(\d+)$")
_STEMS = {"W": "W", "b": "b", "a": "a", "h": "h", "delta": r"\delta"}
_FUNCTION = re.compile(r"^(sigma|g)(\d*)(_prime)?$")


def array_name(name: str) -> tuple[str, int | None] | None:
    """(LaTeX stem, output axis) for an array of the notation: W^{2}, \\delta^{1}, a^{3}, …; None for others."""
    if name in _NAMES:
        return _NAMES[name]
    match = _LAYERED.match(name)
    if match is None:
        return None
    kind, layer = match.group(1), int(match.group(2))
    # Layer 1's arrays carry the output index k (first for W¹, b¹, second for δ¹).
    out_axis = (0 if kind in ("W", "b") else 1) if layer == 1 else None
    return f"{_STEMS[kind]}^{{{layer}}}", out_axis


def function_name(name: str) -> str | None:
    r"""\sigma, \sigma_{3}', g' … for the abstract functions of the model; None for others."""
    match = _FUNCTION.match(name)
    if match is None:
        return None
    stem = r"\sigma" if match.group(1) == "sigma" else "g"
    if match.group(2):
        stem += f"_{{{match.group(2)}}}"
    return stem + ("'" if match.group(3) else "")


class Printer(LatexPrinter):
    """SymPy's LaTeX printer with symbp's notation.

    Args:
        outputs: d; with 1, the output index k is not written.
    """

    def __init__(self, outputs: int = 1, **settings: object) -> None:
        super().__init__(settings)
        self.single_output = outputs == 1

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = str(expr.base.label)
        known = array_name(name)
        if known is None:
            return super()._print_Indexed(expr)
        stem, out_axis = known
        indices = list(expr.indices)
        output_index = indices[out_axis] if out_axis is not None else None
        if self.single_output and out_axis is not None:
            del indices[out_axis]
        printed = [self._print(ix) for ix in indices]
        sub = ("," if any(len(s) > 1 for s in printed) else "").join(printed)
        if name == "f":
            # f(x_i), or f_k(x_i) with several outputs.
            sample = self._print(expr.indices[0])
            head = "f" if self.single_output else f"f_{{{self._print(output_index)}}}"
            return rf"{head}(x_{{{sample}}})"
        return f"{stem}_{{{sub}}}" if sub else stem

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        stem = function_name(expr.func.__name__)
        if stem is not None:
            args = ", ".join(self._print(a) for a in expr.args)
            tex = rf"{stem}\left({args}\right)"
            return f"{tex}^{{{exp}}}" if exp else tex
        return super()._print_Function(expr, exp)

    def _print_Pow(self, expr: sp.Pow) -> str:
        base = expr.base
        if isinstance(base, sp.Indexed) and expr.exp.is_Integer and expr.exp > 1:
            known = array_name(str(base.base.label))
            if known is not None and "^" in known[0]:
                # h^{2}_{im} squared: a second superscript needs brackets.
                return rf"\left({self._print(base)}\right)^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        tex = rf"\mathbf{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = list(self._as_ordered_terms(expr, order=order))
        # Positive terms first, so that y - f reads as it does in the textbook.
        terms.sort(key=lambda t: t.could_extract_minus_sign())
        tex = ""
        for position, term in enumerate(terms):
            if position == 0:
                pass
            elif term.could_extract_minus_sign():
                tex += " - "
                term = -term
            else:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if expr.name.endswith("'"):
            return expr.name
        return super()._print_Symbol(expr, style)


def printer_for(derivation: Derivation) -> Printer:
    return Printer(outputs=derivation.spec.outputs)


def tex(expr: sp.Expr, derivation: Derivation) -> str:
    """One expression of the derivation, in symbp's notation."""
    return printer_for(derivation).doprint(mo.drop_output_sums(expr, derivation.spec.outputs))


def product_tex(factors: list[sp.Expr], derivation: Derivation) -> str:
    """A product written in the given order (the order of the chain rule), factors of 1 left out."""
    printer = printer_for(derivation)
    coefficient = sp.Integer(1)
    parts: list[str] = []
    for factor in factors:
        factor = mo.drop_output_sums(factor, derivation.spec.outputs)
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
        if derivation.spec.outputs == 1 and index in (mo.k, mo.kk):
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
    line = rf"{partial_tex(mo.R_symbol, pg.component, derivation)} &= {chain_product_tex(name, derivation)}"
    steps = pg.steps
    if sp.expand(derivation.deltas["delta1"] - steps[0].value * steps[1].value) != 0:
        # The loss's derivative cancels against g′ (cross-entropy): show the cancelled form too.
        line += " = " + tex(pg.direct, derivation)
    return line


def backprop_tex(name: str, derivation: Derivation) -> str:
    """∂R/∂θ = Σ_i δ · (∂z/∂θ or ∂a/∂θ) (+ 2λθ)."""
    pg = derivation.parameters[name]
    return rf"{partial_tex(mo.R_symbol, pg.component, derivation)} &= {tex(pg.backprop, derivation)}"


def delta_tex(derivation: Derivation) -> list[str]:
    """δ¹, δ², … as equations (one LaTeX line each): δ^l = ∂R/∂a^l, computed from δ^{l−1}."""
    i = mo.i
    model = derivation.model
    outer = derivation.parameters["W1"].steps
    lines = [rf"{tex(mo.delta1[i, mo.k], derivation)} &= {partial_tex(mo.R_symbol, mo.z[i, mo.k], derivation)} = {_delta1_tex(derivation, outer)}"]
    for layer in model.hidden_layers:
        above = model.layer(layer.number - 1)
        value = derivation.deltas[f"delta{layer.number}"]
        sum_part = value.atoms(sp.Sum)
        rest = sp.Mul(*[f for f in sp.Mul.make_args(value) if not isinstance(f, sp.Sum)])
        factors = sorted(sum_part, key=str) + [rest]
        factors = [f.xreplace({above.bound: above.unit}) for f in factors]  # Σ_k reads better than Σ_{k'} here
        lines.append(
            rf"{tex(layer.delta[i, layer.unit], derivation)} &= {partial_tex(mo.R_symbol, layer.pre[i, layer.unit], derivation)} = {product_tex(factors, derivation)}"
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
    i = mo.i
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
    u = sp.Symbol("u", real=True)
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
            line += rf" = {tex(form.value_form.xreplace({VALUE: layer.function(u)}), derivation)}"
        lines.append(line)
    return lines


def check_view(view: str) -> str:
    """``view`` if it is one of :data:`VIEWS`, else a SpecError naming them."""
    if view not in VIEWS:
        from symbp.errors import SpecError

        raise SpecError(f"unknown view {view!r}: choose {' or '.join(VIEWS)}")
    return view


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
        from symbp.symbolic.matrix import matrix_lines

        lines = matrix_lines(derivation)
    else:
        lines = [chain_tex(name, derivation) for name in derivation.parameters]
        definitions = definitions_tex(derivation)
        lines += [r"\text{where}\quad " + definitions[0], *definitions[1:]]
    if expand:
        from symbp.symbolic.expand import expanded_lines

        lines += expanded_lines(derivation)
    body = " \\\\\n".join(lines)
    if display:
        return "$$\\begin{aligned}\n" + body + "\n\\end{aligned}$$"
    return "\\begin{align*}\n" + body + "\n\\end{align*}\n"
