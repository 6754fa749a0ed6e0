"""symbp's notation in MathML: SymPy's MathML printer, with what the notation needs, and the markup of the web page.

:class:`MathMLPrinter` subclasses SymPy's ``MathMLPresentationPrinter`` and overrides the
same things the LaTeX printer does (:mod:`symbp.latex.printer`): array names (W²_{mj},
f(x_i)), σ/σ′/g/g′, the unit step, one Σ per index, the order of terms, signs and common
factors, σ′ and g′ in one form, e rather than ⅇ.  :class:`MathMLMatrixPrinter` adds the
matrix view's products, transposes and functions applied entry by entry.
:class:`MathMLMarkup` prints the pieces of the derivation's equations
(:class:`~symbp.latex.markup.Markup`) with them, so that the page shows the equations the
LaTeX document shows.
"""

from __future__ import annotations

from xml.dom.minidom import Element

import sympy as sp
from sympy.matrices.expressions import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.simplify import fraction

from symbp.latex.layout import Bracketed, Join, Node
from symbp.latex.markup import Markup
from symbp.latex.printer import array_parts, function_parts
from symbp.spec.functions import X
from symbp.symbolic.derivatives import U, DerivativeForm
from symbp.symbolic.model import LAMBDA
from symbp.symbolic.notation import common_factor, readable_product

#: Stands for the argument while a function of one variable is printed (then replaced by the argument's MathML).
_ARGUMENT = sp.Symbol("SYMBPARGUMENT", real=True)
_STEMS = {"W": "<mi>W</mi>", "b": "<mi>b</mi>", "a": "<mi>a</mi>", "h": "<mi>h</mi>", "delta": "<mi>&#948;</mi>", "x": "<mi>x</mi>", "y": "<mi>y</mi>", "z": "<mi>z</mi>", "f": "<mi>f</mi>"}
_MATRIX_STEMS = {"A": "A", "H": "H", "Delta": "&#916;", "W": "W", "b": "b"}


def row(*parts: str) -> str:
    """Several MathML elements as one ``mrow``."""
    return "<mrow>" + "".join(parts) + "</mrow>"


def operator(text: str) -> str:
    return f"<mo>{text}</mo>"


def brackets(inner: str, opening: str = "(", closing: str = ")") -> str:
    """``inner`` in brackets that grow only around something tall (a fraction, a sum with limits), as \\left( does."""
    tall = "<mfrac" in inner or "<munderover" in inner
    stretchy = "" if tall else ' stretchy="false"'
    return row(f"<mo{stretchy}>{opening}</mo>", inner, f"<mo{stretchy}>{closing}</mo>")


def scripts(base: str, sub: str = "", sup: str = "") -> str:
    """``base`` with a subscript and/or a superscript (each already MathML, or empty)."""
    if sub and sup:
        return f"<msubsup>{base}{row(sub)}{row(sup)}</msubsup>"
    if sub:
        return f"<msub>{base}{row(sub)}</msub>"
    return f"<msup>{base}{row(sup)}</msup>" if sup else base


def function_at(printer: sp.printing.printer.Printer, expr: sp.Expr, variable: sp.Symbol, argument: str) -> str:
    """``expr``, a function of ``variable``, printed at the MathML ``argument``: the same markup at every argument.

    As :func:`symbp.latex.printer.function_at`: printed with one stand-in symbol, the terms of a
    sum keep one order whatever the argument.
    """
    text = printer.doprint(expr.xreplace({variable: _ARGUMENT}))
    marker = f"<mi>{_ARGUMENT}</mi>"
    # An argument with a superscript of its own is bracketed under another, as in the LaTeX.
    powered = brackets(argument) if ("<msup" in argument or "<msubsup" in argument) else argument
    return text.replace(f"<msup>{marker}", f"<msup>{powered}").replace(marker, argument)


#: Functions whose integer powers both printers write before the argument: tanh²(u), sin²(u).
_POWER_BEFORE_ARGUMENT = (sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh)

class MathMLPrinter(MathMLPresentationPrinter):
    """SymPy's MathML printer with symbp's notation.

    Args:
        outputs: d; with 1, the output index k is not written.
        derivatives: the σ′ or g′ of each layer, by its pre-activation and value (as for the LaTeX printer).
    """

    def __init__(self, outputs: int = 1, derivatives: dict[tuple[sp.IndexedBase, sp.IndexedBase], DerivativeForm] | None = None) -> None:
        super().__init__({"mul_symbol": None})
        self.single_output = outputs == 1
        self.derivatives = derivatives or {}
        self._kinds = {type(form.expr) for form in self.derivatives.values()} | {type(form.value_form) for form in self.derivatives.values() if form.value_form is not None}

    def raw(self, text: str) -> Element:
        """Markup already printed, as an element (SymPy's MathML document writes its text nodes unescaped)."""
        element = self.dom.createElement("mrow")
        element.appendChild(self.dom.createTextNode(text))
        return element

    def doprint(self, expr: object) -> str:
        # SymPy's doprint prints the top level past _print: σ′ alone is printed in its one form here.
        named = self.derivative_text(expr)
        return named if named is not None else super().doprint(expr)

    def _print(self, expr: object, **kwargs: object) -> Element:
        named = self.derivative_text(expr)
        return self.raw(named) if named is not None else super()._print(expr, **kwargs)

    def derivative_text(self, expr: object) -> str | None:
        """σ′ or g′ at a named pre-activation (or in its value form) in its one form; else None."""
        if not self._kinds or type(expr) not in self._kinds:
            return None
        atoms = expr.atoms(sp.Indexed)
        if len(atoms) != 1:
            return None
        (atom,) = atoms
        for (pre, post), form in self.derivatives.items():
            if form.value_form is not None and atom.base == post and expr == form.value_form.xreplace({U: atom}):
                return function_at(self, form.value_form, U, self.doprint(atom))
            if form.value_form is None and atom.base == pre and expr == form.expr.xreplace({X: atom}):
                return function_at(self, form.expr, X, self.doprint(atom))
        return None

    def _print_Indexed(self, expr: sp.Indexed) -> Element:
        parts = array_parts(str(expr.base.label))
        if parts is None:
            return super()._print_Indexed(expr)
        kind, layer, out_axis = parts
        indices = list(expr.indices)
        if self.single_output and out_axis is not None:
            del indices[out_axis]
        sub = "".join(self.doprint(index) for index in indices)
        if kind == "f":
            # f(x_i), or f_k(x_i) with several outputs.
            sample = scripts("<mi>x</mi>", self.doprint(expr.indices[0]))
            head = "<mi>f</mi>" if self.single_output else scripts("<mi>f</mi>", self.doprint(expr.indices[1]))
            return self.raw(row(head, brackets(sample)))
        return self.raw(scripts(_STEMS[kind], sub, "" if layer is None else f"<mn>{layer}</mn>"))

    def _print_Function(self, expr: sp.Function) -> Element:
        parts = function_parts(expr.func.__name__)
        if parts is None:
            return super()._print_Function(expr)
        stem, layer, prime = parts
        head = scripts("<mi>&#963;</mi>" if stem == "sigma" else "<mi>g</mi>", f"<mn>{layer}</mn>" if layer else "")
        if prime:
            head += operator("&#8242;")
        return self.raw(row(head, brackets("".join(self.doprint(arg) for arg in expr.args))))

    def _print_Heaviside(self, expr: sp.Heaviside) -> Element:
        argument = expr.args[0]
        negative = argument.could_extract_minus_sign()
        inside = row(self.doprint(-argument if negative else argument), operator("&lt;" if negative else "&gt;"), "<mn>0</mn>")
        return self.raw(row("<mn>&#120793;</mn>", brackets(inside, "[", "]")))

    def _print_Exp1(self, expr: sp.Expr) -> Element:
        return self.raw("<mi>e</mi>")

    def _print_exp(self, expr: sp.exp) -> Element:
        return self.raw(scripts("<mi>e</mi>", sup=self.doprint(expr.args[0])))

    def _print_Sum(self, expr: sp.Sum) -> Element:
        signs = ""
        for index, lower, upper in reversed(expr.limits):
            signs += f"<munderover><mo>&#8721;</mo>{row(self.doprint(index), operator('='), self.doprint(lower))}{self.doprint(upper)}</munderover>"
        body = self.doprint(expr.function)
        return self.raw(row(signs, brackets(body) if isinstance(expr.function, sp.Add) else body))

    def _print_Pow(self, expr: sp.Pow) -> Element:
        base = expr.base
        if isinstance(base, sp.Indexed) and expr.exp.is_Integer and expr.exp > 1 and (array_parts(str(base.base.label)) or ("", None))[1] is not None:
            # h^{2}_{im} squared: a second superscript needs brackets.
            return self.raw(scripts(brackets(self.doprint(base)), sup=self.doprint(expr.exp)))
        if isinstance(base, _POWER_BEFORE_ARGUMENT) and expr.exp.is_Integer and expr.exp > 1:
            # tanh²(u), as the LaTeX printer writes it (\tanh^{2}), not tanh(u)².
            name = scripts(f"<mi>{base.func.__name__}</mi>", sup=self.doprint(expr.exp))
            return self.raw(row(name, brackets(self.doprint(base.args[0]))))
        return super()._print_Pow(expr)

    def ordered_terms(self, expr: sp.Add) -> list[sp.Expr]:
        """As the LaTeX printer orders them: positive first, the penalty's last."""
        return sorted(self._as_ordered_terms(expr, order=None), key=lambda t: (t.has(LAMBDA), t.could_extract_minus_sign()))

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> Element:
        shared = common_factor(expr)
        if shared is not None:
            return self.raw(row(self.doprint(shared[0]), operator("&#8290;"), brackets(self.doprint(shared[1]))))
        text = ""
        for position, term in enumerate(self.ordered_terms(expr)):
            negative = position > 0 and term.could_extract_minus_sign()
            if position:
                text += operator("&#8722;" if negative else "+")
            printed = self.doprint(-term if negative else term)
            text += brackets(printed) if isinstance(term, sp.Add) else printed
        return self.raw(row(text))

    def _l_paren(self) -> Element:
        return self._fence("(")

    def _r_paren(self) -> Element:
        return self._fence(")")

    def _fence(self, text: str) -> Element:
        # SymPy's brackets around an argument or a base: the size of the text, as the LaTeX's are.
        element = self.dom.createElement("mo")
        element.setAttribute("stretchy", "false")
        element.appendChild(self.dom.createTextNode(text))
        return element

    def _print_Mul(self, expr: sp.Mul) -> Element:
        readable = readable_product(expr)
        if readable is None:
            return self._product(expr)
        coefficient, factors = readable
        rest = sp.Mul(*factors)
        text = brackets(self.doprint(rest)) if isinstance(rest, sp.Add) else self.doprint(rest)
        if coefficient == 1:
            return self.raw(text)
        lead = operator("&#8722;") if coefficient == -1 else self.doprint(coefficient) + operator("&#8290;")
        return self.raw(row(lead, text))


    def _product(self, expr: sp.Mul) -> Element:
        """A product as the LaTeX printer writes it: a fraction when it has a denominator (a e^{−a}/(1 + e^{−a})², not a/((1 + e^{−a})² e^{a}))."""
        if expr.could_extract_minus_sign():
            return self.raw(row(operator("&#8722;"), self.doprint(-expr)))
        numerator, denominator = fraction(expr, exact=True)
        if denominator != 1:
            return self.raw(f"<mfrac>{row(self.doprint(numerator))}{row(self.doprint(denominator))}</mfrac>")
        factors = [brackets(self.doprint(factor)) if isinstance(factor, sp.Add) else self.doprint(factor) for factor in expr.as_ordered_factors()]
        return self.raw(row(operator("&#8290;").join(factors)))


class MathMLMatrixPrinter(MathMLPrinter):
    """:class:`MathMLPrinter` with the matrix view: A², (W¹)ᵀ, ⊙, 1_n, and functions applied entry by entry."""

    def _print_MatrixSymbol(self, expr: MatrixSymbol) -> Element:
        stem = expr.name.rstrip("0123456789")
        layer = expr.name[len(stem) :]
        base = f"<mi>{_MATRIX_STEMS.get(stem, stem)}</mi>"
        return self.raw(scripts(base, sup=f"<mn>{layer}</mn>" if layer else ""))

    def _print_Transpose(self, expr: Transpose) -> Element:
        inner = self.doprint(expr.arg)
        atom = isinstance(expr.arg, MatrixSymbol) and "<msup" not in inner
        return self.raw(scripts(inner if atom else brackets(inner), sup="<mi>T</mi>"))

    def _print_OneMatrix(self, expr: OneMatrix) -> Element:
        rows, cols = expr.shape
        one = "<mn>&#120783;</mn>"  # a bold 1, as the LaTeX's \\mathbf{1}
        if cols == 1:
            return self.raw(scripts(one, self.doprint(rows)))
        return self.raw(scripts(one, self.doprint(cols), "<mi>T</mi>") if rows == 1 else one)

    def _print_MatMul(self, expr: MatMul) -> Element:
        coefficient, matrices = expr.as_coeff_matrices()
        text = "".join(brackets(self.doprint(m)) if isinstance(m, (MatAdd, HadamardProduct)) else self.doprint(m) for m in matrices)
        if coefficient == 1:
            return self.raw(row(text))
        lead = operator("&#8722;") if coefficient == -1 else self.doprint(coefficient)
        return self.raw(row(lead, text))

    def _print_MatAdd(self, expr: MatAdd) -> Element:
        def negative(term: sp.Basic) -> bool:
            return isinstance(term, MatMul) and term.as_coeff_matrices()[0].could_extract_minus_sign()

        text = ""
        for position, term in enumerate(sorted(expr.args, key=negative)):  # positive terms first: F − Y
            if negative(term):
                text += operator("&#8722;")
                coefficient, matrices = term.as_coeff_matrices()
                term = MatMul(-coefficient, *matrices) if -coefficient != 1 else (matrices[0] if len(matrices) == 1 else MatMul(*matrices))
            elif position:
                text += operator("+")
            text += self.doprint(term)
        return self.raw(row(text))

    def _print_HadamardProduct(self, expr: HadamardProduct) -> Element:
        factors = [brackets(self.doprint(m)) if isinstance(m, (MatAdd, MatMul)) and not isinstance(m, OneMatrix) else self.doprint(m) for m in expr.args]
        return self.raw(row(operator("&#8857;").join(factors)))

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> Element:
        function = expr.function
        (variable,) = function.variables
        argument = self.doprint(expr.expr)
        if not isinstance(expr.expr, MatrixSymbol):
            argument = brackets(argument)
        return self.raw(function_at(self, function.expr, variable, argument))


class MathMLMarkup(Markup):
    """The pieces of the derivation's equations as MathML (:class:`MathMLPrinter`)."""

    plus = Join(operator("+"), operator("+"))
    minus = Join(operator("&#8722;"), operator("&#8722;"))
    equals = Join(operator("="), operator("="))
    #: A thin space between the factors of the chain rule, as the LaTeX's \\,.
    times = Join('<mspace width="0.17em"></mspace>', '<mspace width="0.17em"></mspace>')

    def sum_sign(self, index: sp.Symbol, size: sp.Expr) -> str:
        return f"<munderover><mo>&#8721;</mo>{row(self.printer.doprint(index), operator('='), '<mn>1</mn>')}{self.printer.doprint(size)}</munderover>"

    def partial(self, of: sp.Expr, by: sp.Expr) -> str:
        return f"<mfrac>{row(operator('&#8706;'), self.expr(of))}{row(operator('&#8706;'), self.expr(by))}</mfrac>"

    def at(self, expr: sp.Expr, variable: sp.Symbol, argument: str) -> str:
        return function_at(self.printer, expr, variable, argument)

    def bracketed(self, node: Node) -> Bracketed:
        return Bracketed(node, "<mrow><mo>(</mo>", "<mo>)</mo></mrow>")

    def coefficient(self, number: sp.Expr) -> str:
        return operator("&#8722;") if number == -1 else self.printer.doprint(number) + operator("&#8290;")

    def symbol(self, name: str) -> str:
        return f"<mi>{name}</mi>"

    def matrix_printer(self) -> MathMLMatrixPrinter:
        return MathMLMatrixPrinter(outputs=self.outputs)

    def gradient_of(self, parameter: str) -> str:
        return row(scripts(operator("&#8711;"), parameter), "<mi>R</mi>")

    def part_label(self, layer: int) -> str:
        return scripts(operator("&#8711;"), f"<mn>{layer}</mn>") + "<mi>R</mi>" + operator(":") + '<mspace width="2em"></mspace>'
