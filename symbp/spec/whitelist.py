"""The one whitelist walker: text a user types, read into SymPy without running any of it.

The text is parsed by Python's own parser (``ast.parse``, which never runs code)
and the tree is walked node by node against a whitelist; the SymPy expression is
built from the nodes that pass.  Nothing the user types is handed to ``eval``,
``sympify`` or ``parse_expr``.

What every reader shares lives in :class:`Walker`: the checks before parsing
(length, characters, comments), the budget of nodes and depth, numbers in range,
``+ - * / **`` with the exponent check, calls of listed functions with their
number of arguments, and the refusal of everything else (attributes, lambdas,
strings, booleans, comparisons, dunder names, keyword and starred arguments).
A reader is a subclass that adds what it allows on top, its *node set*, through
a few hooks, and words its messages with its own :class:`Messages`:

- σ and g (:mod:`symbp.spec.functions`): the variable x;
- hand-derived gradient formulas (:mod:`symbp.checker.reader`): arrays with
  index letters, ``sum(BODY, i)``, the layer functions σ, σ′, g, g′.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import sympy as sp

from symbp.errors import ExpressionError

#: Largest |exponent| and largest literal allowed; a number that large is no activation.
#: The exponent is bounded as a value: the exponents of nested powers multiply ((x**8)**8 is x**64).
MAX_EXPONENT = 64
MAX_LITERAL = 1e6
#: Deepest nesting of calls (functions, sums): work grows with it geometrically (nested sums, σ′ of σ′ …).
MAX_CALL_NESTING = 8

#: The arithmetic every reader allows, by operator node.
BINARY: dict[type, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}

#: How a refused operator is named in a message.
OPERATOR_NAMES = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Invert: "~", ast.Not: "not"}

#: What to write instead of a refused operator that means something else in Python than on paper.
OPERATOR_HINTS = {ast.BitXor: " (a power is written **, as in x**2)"}

#: A function a reader may call: its number of arguments and what builds its SymPy value.
Callee = tuple[int, Callable[..., sp.Expr]]


@dataclass(frozen=True)
class Limits:
    """How much text one reader takes: characters, nesting depth and nodes of the tree, nesting of calls."""

    length: int
    depth: int
    nodes: int
    calls: int = MAX_CALL_NESTING


@dataclass(frozen=True)
class Messages:
    """One reader's wording, as ``str.format`` templates.

    Every template may use ``{role}`` (what the text is for, e.g. ``sigma``),
    ``{shown}`` (the text quoted and cut to 60 characters), ``{subject}`` (the
    :attr:`subject` template filled in) and ``{allowed}`` (what the reader allows);
    the fields named in a comment are available to that template alone.
    Messages about one part of the text are ``"{subject}: {what}"`` for every reader,
    refusals ``"{subject}: {what} is not allowed; allowed are {allowed}"``.
    """

    subject: str  # how a message names the text: "{role} expression {shown}"
    empty: str
    too_long: str  # {length}, {limit}
    character: str  # {char}, {hint}: the first character outside printable ASCII
    comment: str
    malformed: str  # {msg}, {column}: Python's SyntaxError
    too_large: str  # {depth}, {nodes}: the limits
    divides_by_zero: str
    starred: str  # {name}, {arguments}: the sentence "exp takes 1 argument, got 2"
    not_a_value: str
    undefined: str
    not_real: str
    hint: str = ""  # {replacement}: added to ``character`` for a character with a replacement
    replacements: Mapping[str, str] = field(default_factory=dict)  # character → what to write instead


def show(source: str) -> str:
    """The user's text, quoted and cut to 60 characters, for a one-line message.

    Example:
        >>> show("x" * 70)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"
    """
    return repr(source if len(source) <= 60 else source[:57] + "...")


def short(expr: sp.Expr) -> str:
    """An expression cut to 20 characters, for a one-line message."""
    text = str(expr)
    return text if len(text) <= 20 else text[:17] + "..."


def literal(value: float, error: Callable[[str], Exception]) -> sp.Expr:
    """A number of the text as an exact SymPy number, or ``error(problem)`` when out of range.

    Args:
        value: the number as Python's parser read it (an int or a float).
        error: makes the exception raised for a number out of range, from the problem.

    Returns:
        An Integer, or the Rational the float was written as (0.1 stays 1/10).

    Example:
        >>> literal(0.1, ValueError)
        1/10
    """
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        raise error(f"the number {value!r} is out of range (|number| ≤ {MAX_LITERAL:g})")
    return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))


def power_problem(base: sp.Expr, exponent: sp.Expr) -> str | None:
    """What is wrong with base**exponent before SymPy evaluates it, or None.

    SymPy would evaluate 9**9**9 exactly and never finish, so the sizes are checked first.

    Args:
        base, exponent: the two sides, already read.

    Returns:
        One phrase for a message ("the exponent 1000 is too large (|exponent| ≤ 64)"), or None.

    Example:
        >>> power_problem(sp.Integer(9), sp.Integer(387420489))
        'the exponent 387420489 is too large (|exponent| ≤ 64)'
    """
    if not exponent.is_number:
        return None
    try:
        size = abs(float(exponent))
    except (TypeError, ValueError):
        size = math.inf
    if not math.isfinite(size) or size > MAX_EXPONENT:
        return f"the exponent {short(exponent)} is too large (|exponent| ≤ {MAX_EXPONENT})"
    total = size * exponent_weight(base)
    if total > MAX_EXPONENT:
        return f"the nested powers multiply to an exponent of {total:.3g}, more than {MAX_EXPONENT}"
    if base.is_number:
        try:
            magnitude = size * math.log10(max(abs(float(base)), 1e-300))
        except (OverflowError, TypeError, ValueError):
            magnitude = math.inf
        if abs(magnitude) > 300:
            return f"the power {short(base)}**{short(exponent)} is out of range"
    if base == 0 and exponent.is_negative:
        return "divides by zero"
    return None


def exponent_weight(expr: sp.Expr) -> float:
    """The largest product of numeric exponents along a chain of nested powers in ``expr`` (1 without powers).

    Example:
        >>> x = sp.Symbol("x")
        >>> exponent_weight(sp.exp(x) + (x**2 + 1)**8)
        16.0
    """
    if isinstance(expr, sp.Pow) and expr.exp.is_number:
        try:
            return abs(float(expr.exp)) * exponent_weight(expr.base)
        except (TypeError, ValueError):
            return math.inf
    return max((exponent_weight(arg) for arg in expr.args), default=1.0)


class Walker:
    """Reads one text into a SymPy expression, refusing anything off the whitelist.

    A reader subclasses it, sets :attr:`messages` and :attr:`limits`, passes its
    constants, functions and the ``allowed`` sentence of its refusals, and overrides
    the hooks (:meth:`variable`, :meth:`unknown_name`, :meth:`subscript`,
    :meth:`is_function`, :meth:`call`, :meth:`tower_problem`, :meth:`combined`,
    :meth:`is_value`) for what it allows beyond the shared arithmetic.

    Example:
        >>> from symbp.spec.functions import FunctionWalker
        >>> FunctionWalker("2*x + 1", role="sigma").expression()
        2*x + 1
    """

    messages: ClassVar[Messages]
    limits: ClassVar[Limits]

    def __init__(self, text: str, *, role: str, constants: Mapping[str, sp.Expr], functions: Mapping[str, Callee], allowed: str) -> None:
        self.source = text.strip()
        self.role = role
        self.constants = constants
        self.functions = functions
        self.allowed = allowed
        self.nodes = 0
        self.calls = 0  # calls open around the node being read

    # --- messages ---------------------------------------------------------------------------

    def say(self, template: str, **fields: object) -> ExpressionError:
        """The error of one template of :attr:`messages`, filled in."""
        common = {"role": self.role, "shown": show(self.source), "allowed": self.allowed}
        subject = self.messages.subject.format(**common)
        return ExpressionError(template.format(subject=subject, **common, **fields))

    def fail(self, what: str) -> ExpressionError:
        """A problem with one part of the text: ``"{subject}: {what}"``."""
        return self.say("{subject}: {what}", what=what)

    def refuse(self, what: str) -> ExpressionError:
        """Something the reader does not allow, followed by what it does."""
        return self.fail(f"{what} is not allowed; allowed are {self.allowed}")

    # --- reading ----------------------------------------------------------------------------

    def expression(self) -> sp.Expr:
        """The text as a SymPy expression: read, walked, and checked to be a real, finite value.

        Returns:
            The expression, built node by node from the tree.

        Raises:
            ExpressionError: one line in the reader's words saying what is wrong and, for a refusal, what is allowed.
        """
        expr = self.walk(self.tree(), depth=0)
        if not self.is_value(expr):
            raise self.say(self.messages.not_a_value)
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise self.say(self.messages.undefined)
        if expr.has(sp.I):
            raise self.say(self.messages.not_real)
        return expr

    def tree(self) -> ast.expr:
        """The text parsed by Python's parser, after the checks that must come before it."""
        source, messages = self.source, self.messages
        if not source:
            raise self.say(messages.empty)
        if len(source) > self.limits.length:
            raise self.say(messages.too_long, length=len(source), limit=self.limits.length)
        for char in source:
            if ord(char) > 127 or not char.isprintable():
                replacement = messages.replacements.get(char)
                hint = messages.hint.format(replacement=replacement) if replacement else ""
                raise self.say(messages.character, char=char, hint=hint)
        if "#" in source:
            # Python's parser would drop a comment silently; the text would still reach file headers.
            raise self.say(messages.comment)
        try:
            return ast.parse(source, mode="eval").body
        except SyntaxError as err:
            raise self.say(messages.malformed, msg=err.msg, column=err.offset) from err

    def walk(self, node: ast.AST, depth: int) -> sp.Expr:
        """The SymPy value of one node of the tree (and of the nodes below it)."""
        self.nodes += 1
        if depth > self.limits.depth or self.nodes > self.limits.nodes:
            raise self.say(self.messages.too_large, depth=self.limits.depth, nodes=self.limits.nodes)
        match node:
            case ast.Constant(value=bool()):
                raise self.refuse("a boolean")
            case ast.Constant(value=int() | float() as value):
                return literal(value, self.fail)
            case ast.Constant(value=str() | bytes()):
                raise self.refuse("a string")
            case ast.Constant():
                raise self.refuse(f"the constant {node.value!r}")
            case ast.Name(id=name):
                return self.name(name)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self.walk(operand, depth + 1)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.walk(operand, depth + 1)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
                return self.binary(op, left, right, depth)
            case ast.Subscript():
                return self.subscript(node, depth)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if self.is_function(name):
                if self.calls >= self.limits.calls:
                    raise self.say(self.messages.too_large, depth=self.limits.calls, nodes=self.limits.nodes)
                self.calls += 1
                try:
                    return self.call(name, args, depth)
                finally:
                    self.calls -= 1
            case ast.Call(func=ast.Name(id=name)) if self.is_function(name):
                raise self.refuse(f"a keyword argument to {name!r}")
            case ast.Call(func=ast.Name(id=name)):
                raise self.refuse(f"a call to {name!r}")
            case ast.Call():
                raise self.refuse("a call to anything but a listed function")
            case ast.Attribute(attr=attr):
                raise self.refuse(f"attribute access ('.{attr}')")
            case ast.Lambda():
                raise self.refuse("lambda")
            case ast.BinOp(op=op) | ast.UnaryOp(op=op):
                raise self.refuse(f"the operator {OPERATOR_NAMES.get(type(op), type(op).__name__)!r}{OPERATOR_HINTS.get(type(op), '')}")
            case ast.Compare() | ast.BoolOp():
                raise self.refuse("a comparison or boolean operator")
            case _:
                raise self.refuse(f"the construct {type(node).__name__!r}")

    def name(self, name: str) -> sp.Expr:
        """A constant, or a variable of the reader; a function named but not called and any other name are refused."""
        if name in self.constants:
            return self.constants[name]
        if name.startswith("__"):
            raise self.refuse(f"the dunder name {name!r}")
        value = self.variable(name)
        if value is not None:
            return value
        if self.is_function(name):
            raise self.refuse(f"the function {name!r} used without being called")
        raise self.unknown_name(name)

    def binary(self, op: ast.operator, left: ast.expr, right: ast.expr, depth: int) -> sp.Expr:
        """``+ - * / **`` of two parts; a power is checked before SymPy evaluates it, a division by a literal 0 refused."""
        lhs, rhs = self.walk(left, depth + 1), self.walk(right, depth + 1)
        if isinstance(op, ast.Pow):
            problem = power_problem(lhs, rhs)
            if problem is None:
                problem = self.tower_problem(lhs, rhs)
            if problem is not None:
                raise self.fail(problem)
            return sp.Pow(lhs, rhs)
        if isinstance(op, ast.Div) and rhs == 0:
            raise self.say(self.messages.divides_by_zero)
        return self.combined(BINARY[type(op)](lhs, rhs))

    def check_arguments(self, name: str, args: list[ast.expr]) -> None:
        """Refuses starred arguments to ``name`` and a wrong number of them."""
        arity = self.functions[name][0]
        wrong = f"{name} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}"
        if any(isinstance(arg, ast.Starred) for arg in args):
            raise self.say(self.messages.starred, name=name, arguments=wrong)
        if len(args) != arity:
            raise self.fail(wrong)

    # --- hooks: what a reader allows beyond the shared arithmetic ---------------------------

    def variable(self, name: str) -> sp.Expr | None:
        """The value of a name the reader allows besides its constants, or None (it may also refuse the name)."""
        return None

    def unknown_name(self, name: str) -> ExpressionError:
        """The error for a name that is neither a constant, a variable nor a function."""
        return self.refuse(f"the name {name!r}")

    def subscript(self, node: ast.Subscript, depth: int) -> sp.Expr:
        """The value of ``name[...]``; a reader without arrays refuses it."""
        raise self.refuse("indexing with []")

    def is_function(self, name: str) -> bool:
        """Whether ``name`` may be called."""
        return name in self.functions

    def call(self, name: str, args: list[ast.expr], depth: int) -> sp.Expr:
        """The value of a call of a function the reader allows, without keyword arguments."""
        self.check_arguments(name, args)
        return self.functions[name][1](*(self.walk(arg, depth + 1) for arg in args))

    def tower_problem(self, base: sp.Expr, exponent: sp.Expr) -> str | None:
        """What is wrong with base**exponent beyond :func:`power_problem`, or None."""
        return None

    def combined(self, value: sp.Expr) -> sp.Expr:
        """The value of ``+ - * /`` on two parts, as the reader keeps it."""
        return value

    def is_value(self, expr: object) -> bool:
        """Whether what was read is a value of the kind the reader returns."""
        return isinstance(expr, sp.Expr)
