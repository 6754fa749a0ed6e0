"""The one whitelist walker with its two node sets: σ and g (spec.functions), hand-derived formulas (checker.reader).

Messages are matched exactly: the walker is shared, each reader keeps its own wording.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp

from symbp.checker.notation import notation_for
from symbp.checker.reader import read
from symbp.errors import ExpressionError
from symbp.spec.functions import X, parse
from symbp.spec.network import make_spec
from symbp.spec.whitelist import Limits, Messages, Walker, literal, power_problem, show
from symbp.symbolic.model import LAMBDA, W1, a, h, i, k, m, n

TANH = make_spec(hidden=3, sigma="tanh")

SIGMA_ALLOWED = (
    "x (or u), numbers, + - * / **, parentheses, the constants pi and e, and the functions "
    "exp, log, sqrt, abs, tanh, sinh, cosh, sin, cos, atan, sigmoid, softplus, relu, max, min"
)
FORMULA_ALLOWED = (
    "arrays with indices (x[i,j]), sum(BODY, i), numbers, + - * / **, the constants pi, e, lam and the functions "
    "sigma, sigma_prime, g, g_prime, step, sign, exp, log, sqrt, abs, tanh, sinh, cosh, sin, cos, atan, sigmoid, softplus, relu, max, min"
)


def sigma_message(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(text, role="sigma")
    return str(info.value)


def formula_message(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        read(notation_for(TANH), text, "W1")
    return str(info.value)


# --- refused by both, each in its own words ---------------------------------------------------

#: What is refused, as a σ and as a formula; both readers say "<text>: <what> is not allowed; allowed are …".
REFUSED_BY_BOTH = [
    ("a call to '__import__'", "__import__('os')", "__import__('os')"),
    ("a call to 'open'", "open('f', 'w')", "open('f', 'w')"),
    ("a call to anything but a listed function", "(lambda y: y)(x)", "(lambda u: u)(1)"),
    ("attribute access ('.real')", "x.real", "h[i,m].real"),
    ("attribute access ('.__class__')", "x.__class__", "h[i,m].__class__"),
    ("lambda", "lambda: 1", "lambda: 1"),
    ("a string", "'abc'", "'abc'"),
    ("a string", "b'abc'", "b'abc'"),
    ("a boolean", "True", "True"),
    ("the constant None", "None", "None"),
    ("the constant Ellipsis", "...", "..."),
    ("a comparison or boolean operator", "x < 1", "h[i,m] < 1"),
    ("a comparison or boolean operator", "x and x", "h[i,m] and 1"),
    ("the dunder name '__builtins__'", "__builtins__", "__builtins__"),
    ("a keyword argument to 'exp'", "exp(x=x)", "sum(exp(u=h[i,m]), i)"),
    ("the operator '%'", "x % 2", "sum(h[i,m], i) % 2"),
    ("the operator '~'", "~x", "~1"),
    ("the function 'exp' used without being called", "exp", "exp"),
    ("the construct 'List'", "[x]", "[h]"),
    ("the construct 'IfExp'", "x if x else x", "1 if 1 else 0"),
    ("the construct 'JoinedStr'", "f'{x}'", "f'{i}'"),
]


@pytest.mark.parametrize(("what", "sigma_text", "formula_text"), REFUSED_BY_BOTH)
def test_the_same_refusal_in_each_readers_words(what: str, sigma_text: str, formula_text: str) -> None:
    assert sigma_message(sigma_text) == f"sigma expression {sigma_text!r}: {what} is not allowed; allowed are {SIGMA_ALLOWED}"
    assert formula_message(formula_text) == f"formula {formula_text!r}: {what} is not allowed; allowed are {FORMULA_ALLOWED}"


NESTED_SIGMA = "-(" * 45 + "x" + ")" * 45
NESTED_FORMULA = "-(" * 120 + "1" + ")" * 120

#: (σ text, its message, formula text, its message): the checks both make, worded differently.
WORDED_DIFFERENTLY = [
    (
        "", "sigma is empty: give a name or an expression in x",
        "  ", "the formula is empty: give one component of the gradient, e.g. sum(2*(f[i]-y[i])*h[i,m], i)",
    ),
    (
        "x" * 201, "sigma expression is 201 characters long; at most 200 are allowed",
        "x" * 1001, "the formula is 1001 characters long; at most 1000 are allowed",
    ),
    (
        "σ(x)", "sigma expression 'σ(x)' contains a character outside printable ASCII",
        "sum(σ(a[i,m]), i)", "the formula contains the character 'σ', outside printable ASCII; write sigma",
    ),
    (
        "x ＋ 1", "sigma expression 'x ＋ 1' contains a character outside printable ASCII",
        "1 ＋ 1", "the formula contains the character '＋', outside printable ASCII",
    ),
    (
        "x # comment", f"sigma expression 'x # comment': a comment ('#') is not allowed; allowed are {SIGMA_ALLOWED}",
        "sum(h[i,m], i) # comment", "a comment ('#') is not allowed in a formula",
    ),
    (
        "x +", "sigma expression 'x +' is malformed: invalid syntax at column 0",
        "sum(h[i,m], i) +", "the formula 'sum(h[i,m], i) +' is malformed: invalid syntax at column 0",
    ),
    (
        NESTED_SIGMA, f"sigma expression {show(NESTED_SIGMA)} is nested too deeply or too long to be an activation",
        NESTED_FORMULA, f"formula {show(NESTED_FORMULA)}: it is nested more than 100 deep or has more than 1000 parts",
    ),
    (
        "1e400*x", "sigma expression '1e400*x': the number inf is out of range (|number| ≤ 1e+06)",
        "sum(1e400*h[i,m], i)", "formula 'sum(1e400*h[i,m], i)': the number inf is out of range (|number| ≤ 1e+06)",
    ),
    (
        "9**9**9", "sigma expression '9**9**9': the exponent 387420489 is too large (|exponent| ≤ 64)",
        "9**9**9", "formula '9**9**9': the exponent 387420489 is too large (|exponent| ≤ 64)",
    ),
    (
        "10.0**400*x", "sigma expression '10.0**400*x': the exponent 400 is too large (|exponent| ≤ 64)",
        "sum(10.0**400*h[i,m], i)", "formula 'sum(10.0**400*h[i,m], i)': the exponent 400 is too large (|exponent| ≤ 64)",
    ),
    (
        "x**x**x**x", "sigma expression 'x**x**x**x': towers of powers of x are not allowed",
        "sum(h[i,m]**(2**h[i,m]**h[i,m]), i)", "formula 'sum(h[i,m]**(2**h[i,m]**h[i,m]), i)': towers of powers are not allowed",
    ),
    (
        "x/0", "sigma expression 'x/0' divides by zero",
        "sum(h[i,m]/0, i)", "formula 'sum(h[i,m]/0, i)': divides by zero",
    ),
    (
        "exp(x, x)", "sigma expression 'exp(x, x)': exp takes 1 argument, got 2",
        "sum(exp(h[i,m], 2), i)", "formula 'sum(exp(h[i,m], 2), i)': exp takes 1 argument, got 2",
    ),
    (
        # σ counts a starred argument as a wrong number of arguments; a formula refuses the unpacking.
        "exp(*x)", "sigma expression 'exp(*x)': exp takes 1 argument, got 1",
        "sum(exp(*h), i)", f"formula 'sum(exp(*h), i)': unpacking arguments with * in a call to 'exp' is not allowed; allowed are {FORMULA_ALLOWED}",
    ),
    (
        "x[0]", f"sigma expression 'x[0]': indexing with [] is not allowed; allowed are {SIGMA_ALLOWED}",
        "h[i,m][0]", f"formula 'h[i,m][0]': indexing anything but an array of the notation is not allowed; allowed are {FORMULA_ALLOWED}",
    ),
    (
        "(x)(1)", f"sigma expression '(x)(1)': a call to 'x' is not allowed; allowed are {SIGMA_ALLOWED}",
        "(h)(1)", f"formula '(h)(1)': a call to 'h' is not allowed; allowed are {FORMULA_ALLOWED}",
    ),
    (
        "sqrt(-1)*x", "sigma expression 'sqrt(-1)*x' is not real-valued (it contains the imaginary unit); σ and g must map reals to reals",
        "sqrt(-1)", "the formula 'sqrt(-1)' is not real-valued",
    ),
    (
        "x + log(0)", "sigma expression 'x + log(0)' is undefined (it divides by zero or is infinite)",
        "log(0)", "the formula 'log(0)' is undefined (it divides by zero or is infinite)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("sigma_text", "sigma_expected", "formula_text", "formula_expected"), WORDED_DIFFERENTLY)
def test_the_same_check_in_each_readers_words(sigma_text: str, sigma_expected: str, formula_text: str, formula_expected: str) -> None:
    assert sigma_message(sigma_text) == sigma_expected
    assert formula_message(formula_text) == formula_expected


def test_the_role_names_the_function_in_its_messages() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x % 2", role="g")
    assert str(info.value) == f"g expression 'x % 2': the operator '%' is not allowed; allowed are {SIGMA_ALLOWED}"


@pytest.mark.parametrize(("text", "message"), [("sqrt(-1)*x", "not real-valued"), ("log(-1)*x", "not real-valued"), ("x % 2", "'%'"), ("x + log(0)", "undefined")])
def test_specific_refusals(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


# --- what one node set allows and the other does not ------------------------------------------


def test_x_is_the_variable_of_sigma_and_an_array_of_formulas() -> None:
    assert parse("x**2 + 1") == X**2 + 1
    assert formula_message("x**2 + 1") == "formula 'x**2 + 1': the array x needs its indices: x[i,j]"


def test_sums_arrays_and_lam_belong_to_formulas_alone() -> None:
    notation = notation_for(TANH)
    assert read(notation, "sum(h[i,m], i)", "W1") == sp.Sum(h[i, m], (i, 1, n))
    assert sigma_message("sum(h[i,m], i)") == f"sigma expression 'sum(h[i,m], i)': a call to 'sum' is not allowed; allowed are {SIGMA_ALLOWED}"
    assert read(notation, "2*lam*W1[m]", "W1") == 2 * LAMBDA * W1[k, m]
    assert sigma_message("2*lam*x") == f"sigma expression '2*lam*x': the name 'lam' (the variable is x, or u) is not allowed; allowed are {SIGMA_ALLOWED}"


def test_step_and_the_layer_functions_belong_to_formulas_alone() -> None:
    expr = read(notation_for(TANH), "sum(step(a[i,m])*sigma(a[i,m]), i)", "W1")
    assert expr == sp.Sum(sp.Heaviside(a[i, m]) * sp.tanh(a[i, m]), (i, 1, n))
    assert sigma_message("step(x)") == f"sigma expression 'step(x)': a call to 'step' is not allowed; allowed are {SIGMA_ALLOWED}"
    assert sigma_message("sigma(x)") == f"sigma expression 'sigma(x)': a call to 'sigma' is not allowed; allowed are {SIGMA_ALLOWED}"


def test_formulas_take_longer_and_deeper_text() -> None:
    deep = "-(" * 45 + "1" + ")" * 45
    assert read(notation_for(TANH), deep, "W1") == -1
    assert sigma_message(deep.replace("1", "x")) == f"sigma expression {show(deep.replace('1', 'x'))} is nested too deeply or too long to be an activation"


# --- the walker itself -------------------------------------------------------------------------


class Arithmetic(Walker):
    """A third node set with no hooks overridden: numbers, + - * / ** and one function."""

    messages = Messages(
        subject="sum {shown}",
        empty="nothing to add",
        too_long="{length} > {limit}",
        character="bad character {char!r}{hint}",
        comment="no comments",
        malformed="{subject} malformed: {msg}",
        too_large="{subject} too large ({depth}, {nodes})",
        divides_by_zero="{subject}: 1/0",
        starred="{subject}: no * in {name} ({arguments})",
        not_a_value="{subject} is no number",
        undefined="{subject} is undefined",
        not_real="{subject} is complex",
        hint=", use {replacement}",
        replacements={"×": "*"},
    )
    limits = Limits(length=20, depth=4, nodes=8)

    def __init__(self, text: str) -> None:
        super().__init__(text, role="sum", constants={"ten": sp.Integer(10)}, functions={"twice": (1, lambda u: 2 * u)}, allowed="numbers, ten, twice")


def arithmetic_message(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        Arithmetic(text).expression()
    return str(info.value)


def test_a_node_set_without_hooks_is_the_shared_arithmetic() -> None:
    assert Arithmetic(" twice(ten) - 1/2 ").expression() == sp.Rational(39, 2)
    assert arithmetic_message("y") == "sum 'y': the name 'y' is not allowed; allowed are numbers, ten, twice"
    assert arithmetic_message("ten[1]") == "sum 'ten[1]': indexing with [] is not allowed; allowed are numbers, ten, twice"
    assert arithmetic_message("twice(*ten)") == "sum 'twice(*ten)': no * in twice (twice takes 1 argument, got 1)"
    assert arithmetic_message("twice") == "sum 'twice': the function 'twice' used without being called is not allowed; allowed are numbers, ten, twice"


def test_the_limits_and_the_message_table_are_the_node_sets() -> None:
    assert arithmetic_message("") == "nothing to add"
    assert arithmetic_message("1" * 21) == "21 > 20"
    assert arithmetic_message("2×3") == "bad character '×', use *"
    assert arithmetic_message("1 # one") == "no comments"
    assert arithmetic_message("1 +") == "sum '1 +' malformed: invalid syntax"
    assert arithmetic_message("1+1+1+1+1") == "sum '1+1+1+1+1' too large (4, 8)"
    assert arithmetic_message("1/0") == "sum '1/0': 1/0"
    assert arithmetic_message("(-1)**0.5") == "sum '(-1)**0.5' is complex"


def test_numbers_are_exact_and_in_range() -> None:
    assert literal(0.1, ValueError) == sp.Rational(1, 10)
    assert literal(3, ValueError) == 3 and isinstance(literal(3, ValueError), sp.Integer)
    for value in (1e7, -1e7, math.inf, math.nan):
        with pytest.raises(ValueError, match="is out of range"):
            literal(value, ValueError)


def test_powers_are_checked_before_sympy_evaluates_them() -> None:
    assert power_problem(sp.Integer(9), sp.Integer(387420489)) == "the exponent 387420489 is too large (|exponent| ≤ 64)"
    assert power_problem(sp.Integer(10) ** 10, sp.Integer(40)) == "the power 10000000000**40 is out of range"
    assert power_problem(sp.Integer(0), sp.Integer(-1)) == "divides by zero"
    assert power_problem(X, sp.Integer(2)) is None
    assert power_problem(X, X) is None  # not a number: each reader's tower rule decides


def test_text_is_shown_cut_to_sixty_characters() -> None:
    assert show("x + 1") == "'x + 1'"
    assert show("x" * 61) == repr("x" * 57 + "...")
