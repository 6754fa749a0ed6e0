"""Long equations broken across lines: every row fits, breaks fall between terms and factors, short ones stay whole."""

from __future__ import annotations

import re

import pytest

from symbp.latex.formulas import chain_equation, printer_for
from symbp.latex.layout import CONTINUATION, EQUALS, PLUS, SLACK, TEXT_WIDTH, Bracketed, Run, Text, equation_rows, flat, layout_of, lines_of
from symbp.latex.width import width
from symbp.symbolic.model import i
from tests.helpers import derive, slow_after


def _rhs_width(row: str) -> float:
    return width(row.split("&", 1)[1].removeprefix("= ").removeprefix(r"\quad "))


def test_a_short_equation_is_one_row_as_printed() -> None:
    d = derive(hidden=3)
    lhs, rhs = chain_equation("W2", d)
    assert equation_rows(lhs, rhs) == [f"{lhs} &= {flat(rhs)}"]


def test_a_long_chain_rule_is_broken_between_factors_into_rows_that_fit() -> None:
    d = derive(hidden=(3, 3, 3, 3), sigma="x/(1+exp(-x))", g="sigmoid", outputs=2)
    lhs, rhs = chain_equation("W5", d)
    rows = equation_rows(lhs, rhs)
    assert len(rows) >= 3 and rows[0].startswith(lhs + " &= ")
    assert all(row.startswith(CONTINUATION + r"\times ") for row in rows[1:])
    budget = TEXT_WIDTH - SLACK - width(lhs)
    assert all(_rhs_width(row) <= budget for row in rows)
    # Nothing is lost or added but the × at each break: the rows read as the one-line product.
    joined = " ".join([rows[0].split("&= ", 1)[1]] + [row.removeprefix(CONTINUATION + r"\times ") for row in rows[1:]])
    assert re.sub(r"\s|\\,", "", joined) == re.sub(r"\s|\\,", "", flat(rhs))


def test_a_sum_broken_inside_brackets_takes_brackets_of_a_fixed_size() -> None:
    terms = tuple(Text(rf"\frac{{a_{{{n}}}}}{{b_{{{n}}}}}") for n in range(40))
    lines = lines_of(Bracketed(Run(terms, (PLUS,) * 39)), 200.0, 300.0)
    assert len(lines) > 2 and lines[0].startswith(r"\biggl(") and lines[-1].endswith(r"\biggr)")
    assert not any(r"\left(" in line or r"\right)" in line for line in lines)
    assert all(line.startswith("+ ") for line in lines[1:])
    assert lines_of(Bracketed(Run(terms[:2], (PLUS,))), 200.0, 300.0) == [r"\left(\frac{a_{0}}{b_{0}} + \frac{a_{1}}{b_{1}}\right)"]


def test_an_item_too_wide_for_what_is_left_of_a_line_starts_the_next() -> None:
    # λ (…): the bracket is broken on λ's line when enough of it is left, not below a lone λ.
    wide = Bracketed(Run(tuple(Text(f"w_{{{n}}}") for n in range(60)), (PLUS,) * 59))
    lines = lines_of(Run((Text(r"\lambda"), wide), (PLUS,)), 300.0, 300.0)
    assert lines[0].startswith(r"\lambda + \bigl(") and all(width(line) <= 300.0 for line in lines)


def test_the_next_side_of_an_equality_starts_its_own_row_after_a_broken_side() -> None:
    # A product broken over rows, then "= its simplified form": the = begins a row aligned with the first =,
    # not the end of the product's last row, where a reader misses that a second form starts.
    broken = Run(tuple(Text(f"w_{{{n}}}") for n in range(60)), (PLUS,) * 59)
    rows = equation_rows("R", Run((broken, Text("s")), (EQUALS,)))
    assert len(rows) > 2 and rows[-1] == "&= s"
    assert all(row.startswith(CONTINUATION + "+ ") for row in rows[1:-1])
    # A side that fits on the row of the first keeps it.
    assert equation_rows("R", Run((Text("a + b"), Text("c")), (EQUALS,))) == ["R &= a + b = c"]


@pytest.mark.parametrize(
    "options",
    slow_after([dict(hidden=3, sigma="tanh"), dict(hidden=(2, 3), sigma="sigmoid", g="tanh", outputs=2, l2=0.1), dict(hidden=2, sigma="max(x,0.01*x)", g="sigmoid", loss="bce")]),
    ids=["tanh", "deep-l2", "leaky-bce"],
)
def test_a_laid_out_formula_reads_as_the_printer_prints_it(options: dict) -> None:
    """The layout of an expression, set on one line, is the printer's text: broken rows read as the unbroken formula."""
    d = derive(**options)
    printer = printer_for(d)
    expressions = [d.gradient(name) for name in d.parameters] + [d.model.total_loss()] + list(d.deltas.values())
    for expr in expressions:
        assert flat(layout_of(expr, printer)).replace(" ", "") == printer.doprint(expr).replace(" ", ""), expr


def test_sigma_prime_is_never_broken() -> None:
    d = derive(hidden=3, sigma="x/(1+exp(-x))")
    printer = printer_for(d)
    layer = d.model.layer(2)
    derivative = d.forms[2].at(layer.pre[i, layer.unit], layer.post[i, layer.unit])
    assert layout_of(derivative, printer) == Text(printer.doprint(derivative))
