"""Printing the derivation as LaTeX, in symbp's notation (README, "Notation").

Fourth stage of the pipeline (… → derivation → **printing** → rendering).
:class:`Printer` subclasses SymPy's ``LatexPrinter`` and overrides only what
the notation needs: array names (W¹_{mj}, f(x_i)), σ/σ′/g/g′, the unit step,
and the order of terms (positive terms first: y_i − f(x_i), not −f(x_i) + y_i).
With one output (d = 1) the output index is dropped, as in the textbook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symbp import model as mo
from symbp.derivation import VALUE
from symbp.expressions import X

if TYPE_CHECKING:
    from symbp.derivation import Derivation

#: How each array is written: (LaTeX stem, position of the output axis or None).
_NAMES: dict[str, tuple[str, int | None]] = {
    "x": ("x", None),
    "y": ("y", 1),
    "W1": ("W^{1}", 0),
    "b1": ("b^{1}", 0),
    "W2": ("W^{2}", None),
    "b2": ("b^{2}", None),
    "a": ("a", None),
    "h": ("h", None),
    "z": ("z", 1),
    "f": ("f", 1),
    "delta1": (r"\delta^{1}", 1),
    "delta2": (r"\delta^{2}", None),
}
_FUNCTIONS = {"sigma": r"\sigma", "sigma_prime": r"\sigma'", "g": "g", "g_prime": "g'"}


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
        if name not in _NAMES:
            return super()._print_Indexed(expr)
        stem, out_axis = _NAMES[name]
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
        name = expr.func.__name__
        if name in _FUNCTIONS:
            args = ", ".join(self._print(a) for a in expr.args)
            tex = rf"{_FUNCTIONS[name]}\left({args}\right)"
            return f"{tex}^{{{exp}}}" if exp else tex
        return super()._print_Function(expr, exp)

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


def specialize(expr: sp.Expr, outputs: int) -> sp.Expr:
    """With one output, drop the sums over the output index (they have one term)."""
    if outputs != 1:
        return expr

    def drop(e: sp.Sum) -> sp.Expr:
        limits = [lim for lim in e.limits if lim[0] not in (mo.k, mo.kk)]
        body = e.function.xreplace({mo.kk: mo.k})
        return sp.Sum(body, *limits) if limits else body

    return expr.replace(lambda e: isinstance(e, sp.Sum), drop)


def tex(expr: sp.Expr, derivation: Derivation) -> str:
    """One expression of the derivation, in symbp's notation."""
    return printer_for(derivation).doprint(specialize(expr, derivation.spec.outputs))


def product_tex(factors: list[sp.Expr], derivation: Derivation) -> str:
    """A product written in the given order (the order of the chain rule), factors of 1 left out."""
    printer = printer_for(derivation)
    coefficient = sp.Integer(1)
    parts: list[str] = []
    for factor in factors:
        factor = specialize(factor, derivation.spec.outputs)
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


def sum_prefix(indices: tuple[sp.Symbol, ...], derivation: Derivation) -> str:
    """\\sum_{i=1}^{n} \\sum_{k=1}^{d} for the indices that are really summed (k only when d > 1)."""
    parts = []
    for index in reversed(indices):
        if derivation.spec.outputs == 1 and index in (mo.k, mo.kk):
            continue
        parts.append(rf"\sum_{{{index}=1}}^{{{tex(mo.SIZE[index], derivation)}}}")
    return " ".join(parts) + (" " if parts else "")


def chain_product_tex(name: str, derivation: Derivation) -> str:
    """Σ … (factor)(factor)…: the chain-rule product for one parameter, with SymPy's factors."""
    pg = derivation.parameters[name]
    return sum_prefix(pg.sum_indices, derivation) + product_tex([s.value for s in pg.steps], derivation)


def chain_tex(name: str, derivation: Derivation) -> str:
    """∂R/∂θ = Σ … (factor)(factor)…, one aligned line."""
    component = derivation.parameters[name].component
    return rf"{partial_tex(mo.R_symbol, component, derivation)} &= {chain_product_tex(name, derivation)}"


def backprop_tex(name: str, derivation: Derivation) -> str:
    """∂R/∂θ = Σ_i δ · (∂z/∂θ or ∂a/∂θ)."""
    pg = derivation.parameters[name]
    total = pg.backprop
    return rf"{partial_tex(mo.R_symbol, pg.component, derivation)} &= {tex(total, derivation)}"


def delta_tex(derivation: Derivation) -> list[str]:
    """δ¹ and δ² as equations (one LaTeX line each)."""
    i, k, m = mo.i, mo.k, mo.m
    d2 = derivation.deltas["delta2"]
    outer = derivation.parameters["W1"].steps
    line1 = rf"{tex(mo.delta1[i, k], derivation)} &= {partial_tex(mo.R_symbol, mo.z[i, k], derivation)} = {product_tex([s.value for s in outer[:2]], derivation)}"
    sum_part = d2.atoms(sp.Sum)
    rest = sp.Mul(*[f for f in sp.Mul.make_args(d2) if not isinstance(f, sp.Sum)])
    factors = sorted(sum_part, key=str) + [rest]
    factors = [f.xreplace({mo.kk: mo.k}) for f in factors]  # Σ_k reads better than Σ_{k'} here
    line2 = rf"{tex(mo.delta2[i, m], derivation)} &= {partial_tex(mo.R_symbol, mo.a[i, m], derivation)} = {product_tex(factors, derivation)}"
    return [line1, line2]


def definitions_tex(derivation: Derivation) -> list[str]:
    """The forward pass a, h, z, f with the spec's σ and g written out."""
    i, k, m = mo.i, mo.k, mo.m
    model = derivation.model
    lines = [
        rf"{tex(mo.a[i, m], derivation)} &= {tex(mo.a_def(i, m).xreplace({mo.jj: mo.j}), derivation)}",
        rf"{tex(mo.h[i, m], derivation)} &= \sigma\left({tex(mo.a[i, m], derivation)}\right) = {tex(model.concrete_sigma(mo.a[i, m]), derivation)}",
        rf"{tex(mo.z[i, k], derivation)} &= {tex(mo.z_def(i, k).xreplace({mo.mm: m}), derivation)}",
        rf"{tex(mo.f[i, k], derivation)} &= g\left({tex(mo.z[i, k], derivation)}\right) = {tex(model.concrete_g(mo.z[i, k]), derivation)}",
    ]
    return lines


def derivative_tex(derivation: Derivation) -> list[str]:
    r"""σ(u), σ′(u), g(u), g′(u) as SymPy derived them, and the value form of σ′, g′ when there is one."""
    u = sp.Symbol("u", real=True)
    lines = []
    for fn, form in ((mo.sigma, derivation.sigma_prime), (mo.g, derivation.g_prime)):
        prime = mo.sigma_prime if fn is mo.sigma else mo.g_prime
        line = rf"{tex(fn(u), derivation)} &= {tex(form.function.expr.xreplace({X: u}), derivation)}, \\"
        line += "\n" + rf"{tex(prime(u), derivation)} &= {tex(form.expr.xreplace({X: u}), derivation)}"
        if form.value_form is not None and form.value_form != form.expr.xreplace({X: u}):
            line += rf" = {tex(form.value_form.xreplace({VALUE: fn(u)}), derivation)}"
        lines.append(line)
    return lines


def gradients_latex(derivation: Derivation, expand: bool = False, display: bool = False) -> str:
    """The gradient formulas: the generic components, the forward pass they use, δ¹ and δ².

    Args:
        derivation: what :func:`symbp.derive` returned.
        expand: also write every component for the spec's M and p.
        display: wrap in ``$$ … $$`` with ``aligned`` (for notebooks) instead of ``align*``.
    """
    lines = [chain_tex(name, derivation) for name in mo.PARAMETERS]
    definitions = definitions_tex(derivation)
    lines += [r"\text{where}\quad " + definitions[0], *definitions[1:]]
    if expand:
        from symbp.expand import expanded_lines

        lines += expanded_lines(derivation)
    body = " \\\\\n".join(lines)
    if display:
        return "$$\\begin{aligned}\n" + body + "\n\\end{aligned}$$"
    return "\\begin{align*}\n" + body + "\n\\end{align*}\n"
