"""SymPy expressions printed in the notation a formula is typed in, so that a derived formula reads, and can be typed, like the user's."""

from __future__ import annotations

from functools import reduce

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symbp.symbolic.model import LAMBDA
from symbp.symbolic.notation import common_factor, readable_product


class TextPrinter(StrPrinter):
    """SymPy's str printer writing the notation a formula is typed in: y[i], W1[m], sum(BODY, i), step(u).

    Args:
        output_axes: array name → the axis of its output index k (None for arrays without one).
        single_output: d = 1, so that the output index k is left out.

    Example:
        >>> from symbp.symbolic.model import h, i, m, n
        >>> TextPrinter({"h": None}, single_output=True).doprint(sp.Sum(h[i, m], (i, 1, n)))
        'sum(h[i,m], i)'
    """

    # Indexed prints itself through _sympystr; this printer decides instead.
    printmethod = "_symbp_text"

    def __init__(self, output_axes: dict[str, int | None], single_output: bool) -> None:
        super().__init__()
        self.output_axes = output_axes
        self.single_output = single_output

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = str(expr.base.label)
        indices = list(expr.indices)
        axis = self.output_axes.get(name)
        if self.single_output and axis is not None:
            del indices[axis]
        return name + (f"[{','.join(self._print(ix) for ix in indices)}]" if indices else "")

    def _print_Sum(self, expr: sp.Sum) -> str:
        letters = ", ".join(str(limit[0]) for limit in reversed(expr.limits))
        return f"sum({self._print(expr.function)}, {letters})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return reduce(lambda a, b: f"max({a}, {b})", (self._print(a) for a in expr.args))

    def _print_Min(self, expr: sp.Min) -> str:
        return reduce(lambda a, b: f"min({a}, {b})", (self._print(a) for a in expr.args))

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "e"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return "lam" if expr == LAMBDA else super()._print_Symbol(expr)

    def _print_Mul(self, expr: sp.Mul) -> str:
        # Signs and whole numbers as every printer of the notation writes them: 2*(f[i] - y[i]), not -2*(y[i] - f[i]).
        readable = readable_product(expr)
        if readable is None:
            return super()._print_Mul(expr)
        coefficient, factors = readable
        text = self.parenthesize(sp.Mul(*factors), PRECEDENCE["Mul"], strict=True)
        if coefficient == 1:
            return text
        return ("-" if coefficient == -1 else self.parenthesize(coefficient, PRECEDENCE["Mul"]) + "*") + text

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        shared = common_factor(expr)
        if shared is not None:
            return f"{shared[0]}*({self._print(shared[1])})"
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        text = ""
        for position, term in enumerate(terms):
            negative = term.could_extract_minus_sign()
            text += (" - " if negative else " + ") if position else ("-" if negative else "")
            text += self.parenthesize(-term if negative else term, PRECEDENCE["Add"])
        return text
