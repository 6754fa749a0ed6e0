"""symbp's LaTeX printer: SymPy's, with the notation of the README.

:class:`Printer` subclasses SymPy's ``LatexPrinter`` and overrides only what
the notation needs: array names (W¹_{mj}, f(x_i)), σ/σ′/g/g′, the unit step,
and the order of terms (positive terms first: y_i − f(x_i), not −f(x_i) + y_i).
With one output (d = 1) the output index is dropped, as in the textbook.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter


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
