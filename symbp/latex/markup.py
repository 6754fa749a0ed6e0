"""How the pieces of an equation are written in one markup: LaTeX here, MathML for the web page.

The derivation's equations (:mod:`symbp.latex.formulas`) are built once, from pieces a
:class:`Markup` prints: an expression, ∂A/∂B, the sums of the chain rule, σ′ at an argument,
brackets, and what joins two items (+, −, =, a product's juxtaposition).  :class:`LatexMarkup`
prints them as LaTeX with symbp's :class:`~symbp.latex.printer.Printer`;
:class:`symbp.html.mathml.MathMLMarkup` as MathML.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import sympy as sp

from symbp.latex.layout import EQUALS, MINUS, PLUS, TIMES, Bracketed, Formula, Join, Node
from symbp.latex.printer import Printer, function_at
from symbp.symbolic.model import drop_output_sums, k, k_bound

#: (index, 1, size) of one sum of the chain rule.
Limit = tuple[sp.Symbol, int, sp.Expr]


class Markup(ABC):
    """The pieces of the derivation's equations, printed in one markup.

    Args:
        printer: a SymPy printer of expressions in symbp's notation (its ``doprint``).
        outputs: d; with one output the sums over k are not written.
    """

    plus: Join
    minus: Join
    equals: Join
    times: Join

    def __init__(self, printer: sp.printing.printer.Printer, outputs: int) -> None:
        self.printer = printer
        self.outputs = outputs

    def expr(self, expr: sp.Expr) -> str:
        """An expression of the derivation (the sums over k dropped when d = 1)."""
        return self.printer.doprint(drop_output_sums(expr, self.outputs))

    def formula(self, expr: sp.Expr) -> Formula:
        """An expression as a piece of a layout: printed whole, or broken where the markup breaks lines."""
        return Formula(drop_output_sums(expr, self.outputs), self.printer)

    def sums(self, limits: tuple[Limit, ...]) -> str:
        """Σ_i Σ_k … for the sums that are really there (k only when d > 1), outermost (the last limit) first."""
        kept = [limit for limit in reversed(limits) if not (self.outputs == 1 and limit[0] in (k, k_bound))]
        return "".join(self.sum_sign(index, size) for index, _, size in kept)

    @abstractmethod
    def sum_sign(self, index: sp.Symbol, size: sp.Expr) -> str:
        """Σ over ``index`` from 1 to ``size``, followed by what it sums."""

    @abstractmethod
    def partial(self, of: sp.Expr, by: sp.Expr) -> str:
        """∂``of``/∂``by`` as a fraction."""

    @abstractmethod
    def at(self, expr: sp.Expr, variable: sp.Symbol, argument: str) -> str:
        """``expr``, a function of ``variable``, at an argument already printed: σ′(u) and σ′(a) in one form."""

    @abstractmethod
    def bracketed(self, node: Node) -> Bracketed:
        """``node`` in round brackets."""

    @abstractmethod
    def coefficient(self, number: sp.Expr) -> str:
        """A number written before a product: ``2 ``, ``-`` for −1."""

    @abstractmethod
    def symbol(self, name: str) -> str:
        """A plain symbol of the text (P for the penalty, R)."""

    @abstractmethod
    def matrix_printer(self) -> sp.printing.printer.Printer:
        """A printer of the matrix view (A², (W¹)ᵀ, ⊙, 1_n) in this markup."""

    @abstractmethod
    def gradient_of(self, parameter: str) -> str:
        """∇_{W¹} R for a parameter already printed."""

    @abstractmethod
    def part_label(self, layer: int) -> str:
        """∇_l R: before the first equation of the gradient's part for layer ``layer``."""


class LatexMarkup(Markup):
    """The pieces as LaTeX, printed by symbp's :class:`~symbp.latex.printer.Printer`."""

    plus, minus, equals, times = PLUS, MINUS, EQUALS, TIMES

    def __init__(self, printer: Printer, outputs: int) -> None:
        super().__init__(printer, outputs)

    def sum_sign(self, index: sp.Symbol, size: sp.Expr) -> str:
        return rf"\sum_{{{self.printer.doprint(index)}=1}}^{{{self.printer.doprint(size)}}} "

    def partial(self, of: sp.Expr, by: sp.Expr) -> str:
        return rf"\frac{{\partial {self.expr(of)}}}{{\partial {self.expr(by)}}}"

    def at(self, expr: sp.Expr, variable: sp.Symbol, argument: str) -> str:
        return function_at(self.printer, expr, variable, argument)

    def bracketed(self, node: Node) -> Bracketed:
        return Bracketed(node)

    def coefficient(self, number: sp.Expr) -> str:
        return "-" if number == -1 else self.printer.doprint(number) + " "

    def symbol(self, name: str) -> str:
        return name

    def matrix_printer(self) -> Printer:
        from symbp.latex.matrix import MatrixPrinter

        return MatrixPrinter(outputs=self.outputs)

    def gradient_of(self, parameter: str) -> str:
        return rf"\nabla_{{{parameter}}} R"

    def part_label(self, layer: int) -> str:
        return rf"\nabla_{{{layer}}} R:\qquad "
