"""Parse the σ and g a user types into SymPy expressions, safely.

The text is read by Python's own parser (``ast.parse``, which never runs code)
and the tree is then walked against a whitelist: the one variable ``x``,
numbers, ``+ - * / **``, parentheses and the functions in :data:`FUNCTIONS`.
Everything else is refused with a one-line :class:`~symbp.errors.ExpressionError`.
The SymPy expression is built node by node from that tree; nothing the user
types is handed to ``eval``, ``sympify`` or ``parse_expr``.

Named activations and output functions live here too, as SymPy expressions of
``x``: their derivatives are never written down, SymPy computes them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from symbp.errors import ExpressionError
from symbp.spec.names import ACTIVATION_NAMES, OUTPUT_NAMES

#: The variable of every σ and g expression.
X = sp.Symbol("x", real=True)

MAX_LENGTH = 200
MAX_DEPTH = 40
MAX_NODES = 200
#: Largest |exponent| and largest literal allowed; a number that large is no activation.
MAX_EXPONENT = 64
MAX_LITERAL = 1e6


def _logistic(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def _softplus(u: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(u))


def _relu(u: sp.Expr) -> sp.Expr:
    return sp.Max(0, u)


#: Functions an expression may call, each with its number of arguments.
FUNCTIONS: dict[str, tuple[int, Callable[..., sp.Expr]]] = {
    "exp": (1, sp.exp),
    "log": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "abs": (1, sp.Abs),
    "tanh": (1, sp.tanh),
    "sinh": (1, sp.sinh),
    "cosh": (1, sp.cosh),
    "sin": (1, sp.sin),
    "cos": (1, sp.cos),
    "atan": (1, sp.atan),
    "sigmoid": (1, _logistic),
    "softplus": (1, _softplus),
    "relu": (1, _relu),
    "max": (2, sp.Max),
    "min": (2, sp.Min),
}
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}


@dataclass(frozen=True)
class Function:
    """A σ or g: a name for files and headers, and a SymPy expression of :data:`X`."""

    name: str
    expr: sp.Expr
    text: str  # what the user typed (or the name), for headers and messages

    @property
    def is_named(self) -> bool:
        return self.text == self.name


#: Activations σ by name.
ACTIVATIONS: dict[str, sp.Expr] = dict(zip(ACTIVATION_NAMES, (X, _logistic(X), sp.tanh(X), _relu(X), _softplus(X)), strict=True))
ACTIVATION_ALIASES = {"logistic": "sigmoid", "linear": "identity"}

#: Output functions g by name.
OUTPUTS: dict[str, sp.Expr] = dict(zip(OUTPUT_NAMES, (X, _logistic(X), sp.tanh(X), sp.exp(X)), strict=True))
OUTPUT_ALIASES = {"logistic": "sigmoid", "linear": "identity"}


def activation(text: str) -> Function:
    """The activation σ named by ``text`` or given as an expression in ``x``.

    Example:
        >>> activation("tanh").expr
        tanh(x)
        >>> activation("x/(1+exp(-x))").expr
        x/(1 + exp(-x))
    """
    return _function(text, ACTIVATIONS, ACTIVATION_ALIASES, "sigma")


def output_function(text: str) -> Function:
    """The output function g named by ``text`` or given as an expression in ``x``."""
    return _function(text, OUTPUTS, OUTPUT_ALIASES, "g")


def _function(text: str, named: dict[str, sp.Expr], aliases: dict[str, str], role: str) -> Function:
    if not isinstance(text, str):
        raise ExpressionError(f"{role} must be a name or an expression in x given as text, not {type(text).__name__}")
    key = text.strip()
    key = aliases.get(key.lower(), key.lower())
    if key in named:
        return Function(name=key, expr=named[key], text=key)
    if key.isidentifier() and key not in ("x",) and key not in CONSTANTS:
        raise ExpressionError(
            f"unknown {role} {text.strip()!r}: choose one of {', '.join(named)} or give an expression in x such as 'x/(1+exp(-x))'"
        )
    expr = parse(text, role=role)
    return Function(name=f"{role}_custom", expr=expr, text=text.strip())


def parse(text: str, role: str = "expression") -> sp.Expr:
    """Parse ``text`` as a function of ``x`` against the whitelist.

    Args:
        text: e.g. ``"x/(1+exp(-x))"``.
        role: what the expression is for (``"sigma"`` or ``"g"``), used in messages.

    Returns:
        The SymPy expression, a function of :data:`X` alone.

    Raises:
        ExpressionError: with one line saying what is not allowed and what is.
    """
    source = text.strip()
    if not source:
        raise ExpressionError(f"{role} is empty: give a name or an expression in x")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"{role} expression is {len(source)} characters long; at most {MAX_LENGTH} are allowed")
    if any(ord(c) > 127 or (not c.isprintable()) for c in source):
        raise ExpressionError(f"{role} expression {show(source)} contains a character outside printable ASCII")
    if "#" in source:
        # Python's parser would drop a comment silently; the text would still reach file headers.
        raise ExpressionError(f"{role} expression {show(source)}: a comment ('#') is not allowed; allowed are {_ALLOWED}")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"{role} expression {show(source)} is malformed: {err.msg} at column {err.offset}") from err
    builder = _Builder(source, role)
    expr = builder.build(tree.body, depth=0)
    if not isinstance(expr, sp.Expr) or expr.free_symbols - {X}:
        raise ExpressionError(f"{role} expression {show(source)} must be a function of x alone")
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(f"{role} expression {show(source)} is undefined (it divides by zero or is infinite)")
    if expr.has(sp.I):
        raise ExpressionError(f"{role} expression {show(source)} is not real-valued (it contains the imaginary unit); σ and g must map reals to reals")
    if X not in expr.free_symbols:
        raise ExpressionError(f"{role} expression {show(source)} does not depend on x; an activation must be a function of x")
    return expr


_ALLOWED = "x, numbers, + - * / **, parentheses, the constants pi and e, and the functions " + ", ".join(FUNCTIONS)


class _Builder:
    """Walks a Python expression tree and builds the SymPy expression, refusing anything off the whitelist."""

    def __init__(self, source: str, role: str) -> None:
        self.source = source
        self.role = role
        self.nodes = 0

    def refuse(self, what: str) -> ExpressionError:
        return ExpressionError(f"{self.role} expression {show(self.source)}: {what} is not allowed; allowed are {_ALLOWED}")

    def build(self, node: ast.AST, depth: int) -> sp.Expr:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ExpressionError(f"{self.role} expression {show(self.source)} is nested too deeply or too long to be an activation")
        match node:
            case ast.Constant(value=bool()):
                raise self.refuse("a boolean")
            case ast.Constant(value=int() | float() as value):
                return self.number(value)
            case ast.Constant(value=str() | bytes()):
                raise self.refuse("a string")
            case ast.Constant():
                raise self.refuse(f"the constant {node.value!r}")
            case ast.Name(id="x"):
                return X
            case ast.Name(id=name) if name in CONSTANTS:
                return CONSTANTS[name]
            case ast.Name(id=name) if name.startswith("__"):
                raise self.refuse(f"the dunder name {name!r}")
            case ast.Name(id=name) if name in FUNCTIONS:
                raise self.refuse(f"the function {name!r} used without being called")
            case ast.Name(id=name):
                raise self.refuse(f"the name {name!r} (the only variable is x)")
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self.build(operand, depth + 1)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.build(operand, depth + 1)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
                lhs = self.build(left, depth + 1)
                rhs = self.build(right, depth + 1)
                if isinstance(op, ast.Pow):
                    return self.power(lhs, rhs)
                if isinstance(op, ast.Div) and rhs == 0:
                    raise ExpressionError(f"{self.role} expression {show(self.source)} divides by zero")
                return BINARY[type(op)](lhs, rhs)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in FUNCTIONS:
                arity, make = FUNCTIONS[name]
                if len(args) != arity or any(isinstance(a, ast.Starred) for a in args):
                    raise ExpressionError(
                        f"{self.role} expression {show(self.source)}: {name} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}"
                    )
                return make(*(self.build(a, depth + 1) for a in args))
            case ast.Call(func=ast.Name(id=name)):
                if name in FUNCTIONS:
                    raise self.refuse(f"a keyword argument to {name!r}")
                raise self.refuse(f"a call to {name!r}")
            case ast.Call():
                raise self.refuse("a call to anything but a listed function")
            case ast.Attribute(attr=attr):
                raise self.refuse(f"attribute access ('.{attr}')")
            case ast.Lambda():
                raise self.refuse("lambda")
            case ast.Subscript():
                raise self.refuse("indexing with []")
            case ast.BinOp(op=op):
                raise self.refuse(f"the operator {OPERATOR_NAMES.get(type(op), type(op).__name__)!r}")
            case ast.UnaryOp(op=op):
                raise self.refuse(f"the operator {OPERATOR_NAMES.get(type(op), type(op).__name__)!r}")
            case ast.Compare() | ast.BoolOp():
                raise self.refuse("a comparison or boolean operator")
            case _:
                raise self.refuse(f"the construct {type(node).__name__!r}")

    def number(self, value: int | float) -> sp.Expr:
        return literal(value, lambda problem: ExpressionError(f"{self.role} expression {show(self.source)}: {problem}"))

    def power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        problem = power_problem(base, exponent)
        if problem is None and not exponent.is_number and exponent.has(X) and base.has(X) and _nested_power_depth(exponent) > 1:
            problem = "towers of powers of x are not allowed"
        if problem is not None:
            raise ExpressionError(f"{self.role} expression {show(self.source)}: {problem}")
        return sp.Pow(base, exponent)


# --- pieces shared with the reader of hand-derived formulas (symbp.formula) ---------------------


def show(source: str) -> str:
    """The user's text, quoted and cut to 60 characters, for a one-line message."""
    return repr(source if len(source) <= 60 else source[:57] + "...")


def short(expr: sp.Expr) -> str:
    """An expression cut to 20 characters, for a one-line message."""
    text = str(expr)
    return text if len(text) <= 20 else text[:17] + "..."


def literal(value: int | float, error: Callable[[str], Exception]) -> sp.Expr:
    """A number of the text as an exact SymPy number (0.1 stays 1/10), or ``error(problem)`` when out of range."""
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        raise error(f"the number {value!r} is out of range (|number| ≤ {MAX_LITERAL:g})")
    return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))


def power_problem(base: sp.Expr, exponent: sp.Expr) -> str | None:
    """What is wrong with base**exponent before SymPy evaluates it (9**9**9 would never finish), or None."""
    if not exponent.is_number:
        return None
    try:
        size = abs(float(exponent))
    except (TypeError, ValueError):
        size = math.inf
    if not math.isfinite(size) or size > MAX_EXPONENT:
        return f"the exponent {short(exponent)} is too large (|exponent| ≤ {MAX_EXPONENT})"
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


def _nested_power_depth(expr: sp.Expr) -> int:
    if isinstance(expr, sp.Pow):
        return 1 + max(_nested_power_depth(a) for a in expr.args)
    return max((_nested_power_depth(a) for a in expr.args), default=0)


OPERATOR_NAMES = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Invert: "~", ast.Not: "not"}

BINARY: dict[type, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
