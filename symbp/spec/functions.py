"""Parse the σ and g a user types into SymPy expressions, safely.

The text is read by the whitelist walker of :mod:`symbp.spec.whitelist`
(Python's own parser, which never runs code, then the tree node by node) with
the node set of σ and g: the one variable ``x`` (or ``u``, as the documents write
σ(u)), numbers, ``+ - * / **``,
parentheses, the constants pi and e and the functions in :data:`FUNCTIONS`.
Everything else is refused with a one-line :class:`~symbp.errors.ExpressionError`;
nothing the user types is handed to ``eval``, ``sympify`` or ``parse_expr``.

Named activations and output functions live here too, as SymPy expressions of
``x``: their derivatives are never written down, SymPy computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.errors import ExpressionError
from symbp.spec.names import ACTIVATION_NAMES, OUTPUT_NAMES
from symbp.spec.whitelist import Callee, Limits, Messages, Walker

#: The variable of every σ and g expression.
X = sp.Symbol("x", real=True)
#: How the variable may be typed: x, or u as the documents write σ(u) (one of them in one expression).
VARIABLE_NAMES = ("x", "u")

#: How much text a σ or g may be: characters, nesting depth, nodes of its tree.
MAX_LENGTH = 200
MAX_DEPTH = 40
MAX_NODES = 200


def _logistic(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def _softplus(u: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(u))


def _relu(u: sp.Expr) -> sp.Expr:
    return sp.Max(0, u)


#: Functions an expression may call, each with its number of arguments.
FUNCTIONS: dict[str, Callee] = {
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


#: The softmax output of a classifier, f_k = e^{z_k} / Σ_{k'} e^{z_{k'}}: not elementwise, so its expression is an
#: undefined function that no elementwise stage can evaluate by mistake; the symbolic stage writes it out
#: (:mod:`symbp.symbolic.softmax`).  It comes with ``--loss softmax``.
SOFTMAX = Function(name="softmax", expr=sp.Function("softmax", real=True)(X), text="softmax")


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
    if key.isidentifier() and key not in VARIABLE_NAMES and key not in CONSTANTS:
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

    Example:
        >>> parse("max(0, x) + 0.5*x", role="sigma")
        x/2 + Max(0, x)
    """
    walker = FunctionWalker(text, role=role)
    expr = walker.expression()
    if X not in expr.free_symbols:
        raise walker.say("{subject} does not depend on x; an activation must be a function of x")
    return expr


_ALLOWED = "x (or u), numbers, + - * / **, parentheses, the constants pi and e, and the functions " + ", ".join(FUNCTIONS)


class FunctionWalker(Walker):
    """The whitelist walker with the node set of σ and g: the one variable x, the constants pi and e, :data:`FUNCTIONS`."""

    messages = Messages(
        subject="{role} expression {shown}",
        empty="{role} is empty: give a name or an expression in x",
        too_long="{role} expression is {length} characters long; at most {limit} are allowed",
        character="{subject} contains a character outside printable ASCII",
        comment="{subject}: a comment ('#') is not allowed; allowed are {allowed}",
        malformed="{subject} is malformed: {msg} at column {column}",
        too_large="{subject} is nested too deeply or too long to be an activation",
        divides_by_zero="{subject} divides by zero",
        starred="{subject}: {arguments}",  # a starred argument counts as a wrong number of arguments
        not_a_value="{subject} must be a function of x alone",
        undefined="{subject} is undefined (it divides by zero or is infinite)",
        not_real="{subject} is not real-valued (it contains the imaginary unit); σ and g must map reals to reals",
    )
    limits = Limits(length=MAX_LENGTH, depth=MAX_DEPTH, nodes=MAX_NODES)

    def __init__(self, text: str, role: str) -> None:
        super().__init__(text, role=role, constants=CONSTANTS, functions=FUNCTIONS, allowed=_ALLOWED)
        self.variable_name: str | None = None

    def variable(self, name: str) -> sp.Expr | None:
        if name not in VARIABLE_NAMES:
            return None
        if self.variable_name not in (None, name):
            raise self.fail(f"it uses both {self.variable_name} and {name}; write it in one variable, x or u")
        self.variable_name = name
        return X

    def unknown_name(self, name: str) -> ExpressionError:
        return self.refuse(f"the name {name!r} (the variable is x, or u)")

    def tower_problem(self, base: sp.Expr, exponent: sp.Expr) -> str | None:
        if not exponent.is_number and exponent.has(X) and base.has(X) and _nested_power_depth(exponent) > 1:
            return "towers of powers of x are not allowed"
        return None

    def is_value(self, expr: object) -> bool:
        return isinstance(expr, sp.Expr) and not expr.free_symbols - {X}


def _nested_power_depth(expr: sp.Expr) -> int:
    if isinstance(expr, sp.Pow):
        return 1 + max(_nested_power_depth(a) for a in expr.args)
    return max((_nested_power_depth(a) for a in expr.args), default=0)
