"""symbp's LaTeX printer: SymPy's, with the notation of the README.

:class:`Printer` subclasses SymPy's ``LatexPrinter`` and overrides only what
the notation needs: array names (W¹_{mj}, f(x_i)), σ/σ′/g/g′, the unit step
(𝟙[u > 0], 𝟙[u < 0]), the order of terms (positive terms first: y_i − f(x_i),
not −f(x_i) + y_i), signs and common factors as the notation writes them
(2 (f − y), not −2 (y − f) or 2f − 2y), and σ′, g′ printed in one form wherever
they occur: the derivative at a named pre-activation (or its value form in the
layer's value) is printed exactly as the line σ′(u) = … prints it.
With one output (d = 1) the output index is dropped, as in the textbook.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symbp.spec.functions import X
from symbp.symbolic.derivatives import U, DerivativeForm
from symbp.symbolic.model import LAMBDA
from symbp.symbolic.notation import common_factor, readable_product


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
#: Stands for the argument while a function of one variable is printed (then replaced by the argument's LaTeX).
_ARGUMENT = sp.Symbol("SYMBPARGUMENT", real=True)


def array_parts(name: str) -> tuple[str, int | None, int | None] | None:
    """(kind, layer, output axis) of an array of the notation: ``W2`` → ("W", 2, None), ``f`` → ("f", None, 1); None for others."""
    if name in _NAMES:
        return name, None, _NAMES[name][1]
    match = _LAYERED.match(name)
    if match is None:
        return None
    kind, layer = match.group(1), int(match.group(2))
    # Layer 1's arrays carry the output index k (first for W¹, b¹, second for δ¹).
    out_axis = (0 if kind in ("W", "b") else 1) if layer == 1 else None
    return kind, layer, out_axis


def array_name(name: str) -> tuple[str, int | None] | None:
    """(LaTeX stem, output axis) for an array of the notation: W^{2}, \\delta^{1}, a^{3}, …; None for others."""
    parts = array_parts(name)
    if parts is None:
        return None
    kind, layer, out_axis = parts
    return (_NAMES[kind][0] if layer is None else f"{_STEMS[kind]}^{{{layer}}}"), out_axis


def function_parts(name: str) -> tuple[str, str, bool] | None:
    """("sigma" or "g", the layer's number or "", whether it is the derivative) for the functions of the model; None for others."""
    match = _FUNCTION.match(name)
    return None if match is None else (match.group(1), match.group(2), bool(match.group(3)))


def function_name(name: str) -> str | None:
    r"""\sigma, \sigma_{3}', g' … for the abstract functions of the model; None for others."""
    parts = function_parts(name)
    if parts is None:
        return None
    stem = r"\sigma" if parts[0] == "sigma" else "g"
    if parts[1]:
        stem += f"_{{{parts[1]}}}"
    return stem + ("'" if parts[2] else "")


def function_at(printer: LatexPrinter, expr: sp.Expr, variable: sp.Symbol, argument: str) -> str:
    """``expr``, a function of ``variable``, printed at the LaTeX ``argument``: the same text at every argument.

    SymPy orders the terms of a sum by its symbols, so 1/(1 + e^{−u}) + u e^{−u}/(…) at u and
    at a²_{im} would come out in two orders; printed with one stand-in symbol they do not.
    """
    text = printer.doprint(expr.xreplace({variable: _ARGUMENT}))
    # An argument with a superscript of its own is bracketed under another: (h^{2}_{im})^{2}, as _print_Pow does.
    powered = rf"\left({argument}\right)^" if "^" in argument else argument + "^"
    return text.replace(str(_ARGUMENT) + "^", powered).replace(str(_ARGUMENT), argument)


class Printer(LatexPrinter):
    """SymPy's LaTeX printer with symbp's notation.

    Args:
        outputs: d; with 1, the output index k is not written.
        derivatives: the σ′ or g′ of each layer, by its pre-activation and its value (``a``, ``h``):
            an expression equal to one of them at a named pre-activation is printed in the one form of
            :func:`function_at`.
    """

    def __init__(self, outputs: int = 1, derivatives: dict[tuple[sp.IndexedBase, sp.IndexedBase], DerivativeForm] | None = None, **settings: object) -> None:
        super().__init__(settings)
        self.single_output = outputs == 1
        self.derivatives = derivatives or {}
        # Printing a long formula and then its pieces (to break it) meets the same subexpressions again.
        self._printed: dict[sp.Basic, str] = {}
        # Only sums, products, … of the kind a derivative is made of are compared with one.
        self._kinds = {type(form.expr) for form in self.derivatives.values()} | {
            type(form.value_form) for form in self.derivatives.values() if form.value_form is not None
        }

    def _print(self, expr: object, **kwargs: object) -> str:
        cacheable = isinstance(expr, sp.Basic) and not kwargs
        if cacheable and expr in self._printed:
            return self._printed[expr]
        named = self.derivative_text(expr)
        text = named if named is not None else super()._print(expr, **kwargs)
        if cacheable:
            self._printed[expr] = text
        return text

    def derivative_text(self, expr: object) -> str | None:
        """The derivative of a layer printed in its one form, if ``expr`` is one at a named pre-activation; else None."""
        if not self._kinds or type(expr) not in self._kinds:
            return None
        atoms = expr.atoms(sp.Indexed)
        if len(atoms) != 1:
            return None
        (atom,) = atoms
        for (pre, post), form in self.derivatives.items():
            if form.value_form is not None and atom.base == post and expr == form.value_form.xreplace({U: atom}):
                return function_at(self, form.value_form, U, self._print(atom))
            if form.value_form is None and atom.base == pre and expr == form.expr.xreplace({X: atom}):
                return function_at(self, form.expr, X, self._print(atom))
        return None

    def _print_Mul(self, expr: sp.Mul) -> str:
        readable = readable_product(expr)
        if readable is None:
            return super()._print_Mul(expr)
        coefficient, factors = readable
        rest = sp.Mul(*factors)
        text = self._print(rest)
        if isinstance(rest, sp.Add):
            text = rf"\left({text}\right)"
        if coefficient == 1:
            return text
        if coefficient == -1:
            return "- " + text
        return f"{self._print(coefficient)} {text}"

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        shared = common_factor(expr)
        if shared is not None:
            return rf"{self._print(shared[0])} \left({self._print(shared[1])}\right)"
        return self._ordered_sum(expr)

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

    def _print_Sum(self, expr: sp.Sum) -> str:
        """A sum over several indices as one Σ per index, outermost first (Σ_i Σ_k, as the chain rule writes it)."""
        if len(expr.limits) == 1:
            return super()._print_Sum(expr)
        text = super()._print_Sum(sp.Sum(expr.function, expr.limits[0]))
        for index, lower, upper in expr.limits[1:]:
            text = rf"\sum_{{{self._print(index)}={self._print(lower)}}}^{{{self._print(upper)}}} " + text
        return text

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        argument = expr.args[0]
        if argument.could_extract_minus_sign():
            tex = rf"\mathbf{{1}}\left[{self._print(-argument)} < 0\right]"
        else:
            tex = rf"\mathbf{{1}}\left[{self._print(argument)} > 0\right]"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex

    def ordered_terms(self, expr: sp.Add) -> list[sp.Expr]:
        """The terms of a sum in the order they are written: positive first (y − f as in the textbook), the penalty's last."""
        terms = list(self._as_ordered_terms(expr, order=None))
        return sorted(terms, key=lambda t: (t.has(LAMBDA), t.could_extract_minus_sign()))

    def _ordered_sum(self, expr: sp.Add) -> str:
        terms = self.ordered_terms(expr)
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
