"""Long equations broken across lines, so that every equation of a document fits the page.

A formula is described as a layout before it is set:

* :class:`Text` — printed LaTeX that is never broken (a fraction, a symbol, an index);
* :class:`Formula` — a SymPy expression, printed whole when it fits, else laid out by
  :func:`layout_of` (a sum breaks at its terms, a product at its factors, Σ before its body);
* :class:`Run` — items that may break between them (the terms of a sum at + and −, the
  factors of a chain-rule product, a chain of equalities at =), each :class:`Join` saying
  what stands between two items on one line and what starts the next line at a break;
* :class:`Bracketed` and :class:`Prefixed` — brackets, or a Σ with its limits, around a
  breakable part.

:func:`equation_rows` fills a layout into lines no wider than the page (widths estimated by
:mod:`symbp.latex.width`) and writes them as rows of an ``align*``: ``lhs &= …`` first, then
``&\\quad …``.  A sum broken inside brackets takes fixed-size brackets (``\\Bigl( … \\Bigr)``),
since ``\\left( … \\right)`` cannot span two lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.simplify import fraction

from symbp.latex.printer import Printer
from symbp.latex.width import width
from symbp.symbolic.notation import common_factor, readable_product

#: The width of the page's text (pt): US letter (614.3 pt) less the template's two margins of 2.2 cm (62.6 pt each).
TEXT_WIDTH = 489.0
#: Kept free on every line: the estimate is generous, but a row's label or punctuation may follow.
SLACK = 12.0
#: A breakable item starts on the current line when at least this share of a line is left there.
MIN_ROOM = 0.3
#: What starts a continuation row of an align*: the alignment point, then an indent.
CONTINUATION = r"&\quad "
#: A whole number's LaTeX in a Run of factors stands for a coefficient written before them.
_PLACEHOLDER = sp.Symbol("SYMBPBODY")


@dataclass(frozen=True)
class Text:
    """LaTeX that is never broken."""

    tex: str


@dataclass(frozen=True)
class Formula:
    """A SymPy expression: printed whole by ``printer`` when it fits, else laid out by :func:`layout_of`."""

    expr: sp.Expr
    printer: Printer


@dataclass(frozen=True)
class Join:
    """Between two items of a :class:`Run`: ``inline`` on one line, ``leading`` at the start of the next after a break.

    ``own_line``: after an item broken across lines, the join starts a new line (the next side of
    an equality is not set at the end of the previous side's last row, where it is easily missed).
    """

    inline: str
    leading: str
    own_line: bool = False


PLUS = Join(" + ", "+ ")
MINUS = Join(" - ", "- ")
#: The next side of a chain of equalities; at a break it starts a row aligned with the first ``=``.
EQUALS = Join(" = ", "= ", own_line=True)
#: Between the factors of a product: juxtaposed on a line, × where the line breaks (as a printed book does).
TIMES = Join(r" \, ", r"\times ")
SPACE = Join(" ", r"\times ")
#: Between maps composed: g ∘ A¹ ∘ s ∘ ….
CIRCLE = Join(r" \circ ", r"\circ ")


@dataclass(frozen=True)
class Run:
    """Items that may be broken between: ``joins[k]`` stands between ``items[k]`` and ``items[k + 1]``."""

    items: tuple[Node, ...]
    joins: tuple[Join, ...]


@dataclass(frozen=True)
class Bracketed:
    """``\\left( inner \\right)`` (or the markup's brackets); broken across lines, with brackets of a fixed size."""

    inner: Node
    opening: str = r"\left("
    closing: str = r"\right)"


@dataclass(frozen=True)
class Prefixed:
    """``prefix`` (e.g. Σ with its limits, or a coefficient) directly before ``inner``."""

    prefix: str
    inner: Node


Node = Text | Formula | Run | Bracketed | Prefixed


def run(items: list[Node], join: Join) -> Node:
    """A :class:`Run` of ``items`` with one join between each two (a single item stands alone)."""
    return items[0] if len(items) == 1 else Run(tuple(items), (join,) * (len(items) - 1))


def flat(node: Node) -> str:
    """The layout on one line.

    Example:
        >>> flat(Run((Text("a"), Text("b")), (PLUS,)))
        'a + b'
    """
    if isinstance(node, Text):
        return node.tex
    if isinstance(node, Formula):
        return node.printer.doprint(node.expr)
    if isinstance(node, Bracketed):
        return node.opening + flat(node.inner) + node.closing
    if isinstance(node, Prefixed):
        return node.prefix + flat(node.inner)
    text = flat(node.items[0])
    for join, item in zip(node.joins, node.items[1:], strict=True):
        text += join.inline + flat(item)
    return text


def equation_rows(lhs: str, rhs: Node, relation: str = "=", lhs_width: float | None = None) -> list[str]:
    """The rows of an ``align*`` for ``lhs = rhs``, the right-hand side broken so that every row fits the page.

    Args:
        lhs: the left-hand side, printed.
        rhs: the right-hand side's layout.
        relation: the relation at the alignment point.
        lhs_width: the width of the widest left-hand side of the align* it joins (default: this one's).

    Returns:
        ``lhs &= first line``, then ``&\\quad next line`` for each further line (``&= next side`` where
        a further side of an equality starts).

    Example:
        >>> equation_rows("R", Text("a + b"))
        ['R &= a + b']
    """
    left = width(lhs) if lhs_width is None else lhs_width
    first = TEXT_WIDTH - SLACK - left - width(relation + " ")
    rest = TEXT_WIDTH - SLACK - left - width(r"\quad ")
    lines = lines_of(rhs, first, rest)
    # A row that starts the next side of an equality is aligned at its =, the other rows indented.
    return [f"{lhs} &{relation} {lines[0]}"] + [("&" if line.startswith(EQUALS.leading) else CONTINUATION) + line for line in lines[1:]]


def lines_of(node: Node, first: float, rest: float) -> list[str]:
    """``node`` as lines: the first at most ``first`` wide, the others at most ``rest`` (pt), as far as it can be broken.

    Args:
        node: the layout.
        first: the width left on the first line (pt).
        rest: the width of each further line (pt).

    Returns:
        The lines, each printed; a piece that cannot be broken stands on a line of its own however wide it is.

    Example:
        >>> lines_of(Run((Text("a"), Text("b")), (PLUS,)), 10.0, 100.0)
        ['a', '+ b']
    """
    text = flat(node)
    if width(text) <= first or isinstance(node, Text):
        return [text]
    if isinstance(node, Formula):
        laid_out = layout_of(node.expr, node.printer)
        return [text] if isinstance(laid_out, Text) else lines_of(laid_out, first, rest)
    if isinstance(node, Prefixed):
        inner = lines_of(node.inner, first - width(node.prefix), rest)
        return [node.prefix + inner[0], *inner[1:]]
    if isinstance(node, Bracketed):
        return _bracketed_lines(node, first, rest)
    return _run_lines(node, first, rest)


def _bracketed_lines(node: Bracketed, first: float, rest: float) -> list[str]:
    inner_text = flat(node.inner)
    # Fixed sizes, as tall as what they enclose: a sum's limits, a fraction, or plain symbols.
    size = "Bigg" if r"\sum" in inner_text else ("bigg" if r"\frac" in inner_text else "big")
    opening, closing = rf"\{size}l(", rf"\{size}r)"
    inner = lines_of(node.inner, first - width(opening), rest - width(closing))
    if len(inner) == 1:
        return [flat(node)]
    inner[0] = opening + inner[0]
    inner[-1] += closing
    return inner


def _run_lines(node: Run, first: float, rest: float) -> list[str]:
    """Items added to a line while they fit; a break before the first that does not (and inside it, if it alone is too wide)."""
    lines: list[str] = []
    current, budget = "", first
    spilled = False  # the item before took more than one line
    for position, item in enumerate(node.items):
        text = flat(item)
        if position:
            join = node.joins[position - 1]
            own_line = join.own_line and spilled
            if not own_line and width(current + join.inline + text) <= budget:
                current += join.inline + text
                spilled = False
                continue
            # A long item that breaks starts on this line, not below a nearly empty one (λ × (…)) ...
            room = budget - width(current + join.inline)
            if not own_line and room >= MIN_ROOM * rest and _breakable(item):
                pieces = lines_of(item, room, rest)
                if len(pieces) > 1 and width(pieces[0]) <= room:
                    lines += [current + join.inline + pieces[0], *pieces[1:-1]]
                    current, budget, spilled = pieces[-1], rest, True
                    continue
            # ... else on the next line.
            lines.append(current)
            current, budget = join.leading, rest
        if width(current + text) <= budget:
            current += text
            spilled = False
            continue
        pieces = lines_of(item, budget - width(current), rest)
        current, spilled = current + pieces[0], len(pieces) > 1  # one piece cannot be broken: it stands as wide as it is
        if spilled:
            lines += [current, *pieces[1:-1]]
            current, budget = pieces[-1], rest
    return lines + [current]


def _breakable(node: Node) -> bool:
    if isinstance(node, Formula):
        return _breakable(layout_of(node.expr, node.printer))
    if isinstance(node, (Bracketed, Prefixed)):
        return _breakable(node.inner)
    return isinstance(node, Run)


def layout_of(expr: sp.Expr, printer: Printer) -> Node:
    """How ``expr`` may be broken when printed by ``printer``: a sum at its terms, a product at its factors, Σ before its body.

    Args:
        expr: the expression (already in the form the printer is given, e.g. with the output sums dropped).
        printer: symbp's LaTeX printer for the derivation.

    Returns:
        Its layout; a :class:`Text` for what is not broken (a fraction, a function, an array).

    Example:
        >>> from symbp.latex.printer import Printer
        >>> x, y = sp.symbols("x y")
        >>> flat(layout_of(x + y, Printer()))
        'x + y'
    """
    if printer.derivative_text(expr) is not None:
        return Text(printer.derivative_text(expr))  # σ′ and g′ keep their one form, unbroken
    if isinstance(expr, sp.Sum):
        prefix = printer.doprint(sp.Sum(_PLACEHOLDER, *expr.limits)).replace(printer.doprint(_PLACEHOLDER), "")
        body = layout_of(expr.function, printer)
        return Prefixed(prefix, Bracketed(body) if isinstance(expr.function, sp.Add) else body)
    if isinstance(expr, sp.Add):
        return _sum_layout(expr, printer)
    if isinstance(expr, sp.Mul) and fraction(expr, exact=True)[1] == 1:
        return _product_layout(expr, printer)
    return Text(printer.doprint(expr))


def _sum_layout(expr: sp.Add, printer: Printer) -> Node:
    """The terms in the order the printer writes them (positive first), broken at + and −."""
    shared = common_factor(expr)
    if shared is not None:
        return Prefixed(printer.doprint(shared[0]) + " ", Bracketed(_sum_layout(shared[1], printer)))
    terms = printer.ordered_terms(expr)
    items: list[Node] = [_term(terms[0], printer)]
    joins = []
    for term in terms[1:]:
        negative = term.could_extract_minus_sign()
        joins.append(MINUS if negative else PLUS)
        items.append(_term(-term if negative else term, printer))
    return Run(tuple(items), tuple(joins)) if joins else items[0]


def _term(term: sp.Expr, printer: Printer) -> Node:
    if printer._needs_add_brackets(term):
        return Bracketed(layout_of(term, printer))
    return Formula(term, printer)


def _product_layout(expr: sp.Mul, printer: Printer) -> Node:
    """The factors as the printer orders them, a whole-number coefficient and the sign in front, broken between factors."""
    readable = readable_product(expr)
    coefficient, rest = readable if readable is not None else (sp.Integer(1), [expr])
    body = sp.Mul(*rest)
    lead = "" if coefficient == 1 else ("- " if coefficient == -1 else printer.doprint(coefficient) + " ")
    if body.could_extract_minus_sign():
        body, lead = -body, "- " + lead
    factors = body.as_ordered_factors() if isinstance(body, sp.Mul) else [body]
    if len(factors) > 1 and factors[0].is_Number:
        lead += printer.doprint(factors[0]) + " "
        factors = factors[1:]
    items: list[Node] = []
    for position, factor in enumerate(factors):
        bracket = printer._needs_mul_brackets(factor, first=position == 0, last=position == len(factors) - 1)
        items.append(Bracketed(layout_of(factor, printer)) if bracket else Formula(factor, printer))
    inner = run(items, SPACE)
    return Prefixed(lead, inner) if lead else inner
