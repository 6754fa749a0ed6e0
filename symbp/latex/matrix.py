"""The matrix view printed as LaTeX: A^{2}, (W^{1})^{T}, ⊙, 1_n, and functions applied entry by entry.

:func:`matrix_lines` prints the statements of :func:`symbp.symbolic.matrix.matrix_form`
with :class:`MatrixPrinter`, symbp's LaTeX printer extended to matrix expressions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbp.latex.layout import Node, Text, flat, run
from symbp.latex.printer import Printer
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.matrix import Part, matrix_form, scale

if TYPE_CHECKING:
    from symbp.latex.markup import Markup

_LAYERED = re.compile(r"^(A|H|Delta|W|b)(\d+)$")
_ENTRY = "MATRIXENTRY"


class MatrixPrinter(Printer):
    """symbp's LaTeX printer, with matrices: A^{2}, (W^{1})^{T}, ⊙, 1_n, and functions applied entry by entry."""

    def _print_MatrixSymbol(self, expr: MatrixSymbol) -> str:
        match = _LAYERED.match(expr.name)
        if match is None:
            return expr.name
        stem = r"\Delta" if match.group(1) == "Delta" else match.group(1)
        return f"{stem}^{{{match.group(2)}}}"

    def _atom(self, expr: MatrixExpr) -> str | None:
        """The printed symbol if it can take a superscript as it is (X, not W^{1}); else None."""
        printed = self._print(expr)
        return printed if isinstance(expr, MatrixSymbol) and "^" not in printed else None

    def _print_Transpose(self, expr: Transpose) -> str:
        atom = self._atom(expr.arg)
        return f"{atom}^{{T}}" if atom else rf"\left({self._print(expr.arg)}\right)^{{T}}"

    def _print_OneMatrix(self, expr: OneMatrix) -> str:
        rows, cols = expr.shape
        if cols == 1:
            return rf"\mathbf{{1}}_{{{self._print(rows)}}}"
        if rows == 1:
            return rf"\mathbf{{1}}_{{{self._print(cols)}}}^{{T}}"
        return "1"

    def _print_MatMul(self, expr: MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        text = " ".join(rf"\left({self._print(m)}\right)" if isinstance(m, (MatAdd, HadamardProduct)) else self._print(m) for m in matrices)
        return self._lead(coefficient) + text

    def _lead(self, coefficient: sp.Expr) -> str:
        """A scalar factor written before a matrix: nothing for 1, "-" for −1, "2 \\lambda " …"""
        if coefficient == 1:
            return ""
        if coefficient == -1:
            return "-"
        lead = self._print(coefficient)
        return (rf"\left({lead}\right)" if isinstance(coefficient, sp.Add) else lead) + " "

    def _print_MatAdd(self, expr: MatAdd) -> str:
        def negative(term: MatrixExpr) -> bool:
            return isinstance(term, MatMul) and term.as_coeff_matrices()[0].could_extract_minus_sign()

        tex = ""
        for position, term in enumerate(sorted(expr.args, key=negative)):  # positive terms first: F − Y
            if negative(term):
                tex += " - " if position else "-"
                term = scale(sp.Integer(-1), term)
            elif position:
                tex += " + "
            tex += self._print(term)
        return tex

    def _print_HadamardProduct(self, expr: HadamardProduct) -> str:
        def factor(m: MatrixExpr) -> str:
            if isinstance(m, MatMul) and len(m.as_coeff_matrices()[1]) > 1:
                # 2 (Δ² W²) ⊙ A: the matrix product in brackets, its coefficient outside.
                coefficient, matrices = m.as_coeff_matrices()
                product = rf"\left({self._print(MatMul(*matrices))}\right)"
                return self._lead(coefficient) + product
            return rf"\left({self._print(m)}\right)" if isinstance(m, MatAdd) else self._print(m)

        return r" \odot ".join(factor(m) for m in expr.args)

    def _print_HadamardPower(self, expr: HadamardPower) -> str:
        base = self._atom(expr.base) or rf"\left({self._print(expr.base)}\right)"
        return rf"{base}^{{\circ {self._print(expr.exp)}}}"

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> str:
        function = expr.function
        (variable,) = function.variables
        argument = self._print(expr.expr)
        if not isinstance(expr.expr, MatrixSymbol):
            argument = rf"\left({argument}\right)"
        text = self._print(function.expr.xreplace({variable: sp.Symbol(_ENTRY, real=True)}))
        # A^{2} under another superscript needs braces.
        return text.replace(_ENTRY + "^", "{" + argument + "}^").replace(_ENTRY, argument)


def matrix_equations(derivation: Derivation, markup: Markup | None = None) -> list[tuple[str, Node]]:
    """The matrix form as equations: the left-hand side printed, the right-hand side as a layout.

    Args:
        derivation: what :func:`symbp.derive` returned.
        markup: how to print them (default LaTeX, with :class:`MatrixPrinter`).

    Returns:
        The forward pass first (A, H, …, Z, F), then Δ¹, Δ², …, then ∇_{W¹}R, ∇_{b¹}R, ….
    """
    from symbp.latex.markup import LatexMarkup

    markup = markup or LatexMarkup(MatrixPrinter(outputs=derivation.spec.outputs), derivation.spec.outputs)
    printer = markup.matrix_printer()
    equations: list[tuple[str, Node]] = []
    for statement in matrix_form(derivation).statements:
        lhs = printer.doprint(statement.lhs)
        if statement.part is Part.GRADIENT:
            lhs = markup.gradient_of(lhs)
        rhs = [Text(printer.doprint(statement.rhs))]
        if statement.written_out is not None:
            rhs.append(Text(printer.doprint(statement.written_out)))
        equations.append((lhs, run(rhs, markup.equals)))
    return equations


def matrix_lines(derivation: Derivation) -> list[str]:
    r"""The matrix form as LaTeX lines for an ``align*`` block, ``lhs &= rhs`` each.

    Args:
        derivation: what :func:`symbp.derive` returned.

    Returns:
        The forward pass first (A, H, …, Z, F), then Δ¹, Δ², …, then ∇_{W¹}R, ∇_{b¹}R, ….

    Example:
        >>> import symbp
        >>> matrix_lines(symbp.derive(hidden=3))[-2]
        '\\nabla_{W^{2}} R &= \\left(\\Delta^{2}\\right)^{T} X'
    """
    return [f"{lhs} &= {flat(rhs)}" for lhs, rhs in matrix_equations(derivation)]
