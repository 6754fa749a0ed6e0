"""σ′ and g′ as SymPy computes them, and their value forms.

SymPy differentiates the spec's σ and g (never a formula typed in by hand).  When
it can write a derivative as a polynomial in the function's own value
(tanh′ = 1 − tanh², the logistic's σ(1 − σ), exp′ = exp), that *value form* is kept
too, so that the printed derivation reads as in a textbook and the kernels reuse
what the forward pass computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from symbp.limits import TimeLimitExceeded, time_limit
from symbp.spec.functions import X, Function

#: u: the variable of σ(u) and g(u) as the documents write them, and the function's value in a value form.
U = sp.Symbol("u", real=True)

#: Seconds allowed for one attempt at a value form.
VALUE_FORM_TIME_LIMIT = 3.0


@dataclass(frozen=True)
class DerivativeForm:
    """The derivative of σ or g as SymPy computed it.

    Attributes:
        function: the σ or g it is the derivative of.
        expr: the derivative as an expression of :data:`~symbp.spec.functions.X`.
        value_form: the same derivative as a polynomial in the function's value
            :data:`U` (e.g. ``1 - u**2`` for tanh), or None when there is none.
    """

    function: Function
    expr: sp.Expr
    value_form: sp.Expr | None

    def at(self, argument: sp.Expr, value: sp.Expr) -> sp.Expr:
        """The derivative at ``argument``, written through ``value`` = the function at argument when possible."""
        if self.value_form is not None:
            return self.value_form.xreplace({U: value})
        return self.expr.xreplace({X: argument})


def derivative_form(fn: Function) -> DerivativeForm:
    """Differentiate σ or g with SymPy and look for its value form.

    Example:
        >>> from symbp.spec.functions import activation
        >>> derivative_form(activation("tanh")).value_form
        1 - u**2
    """
    derivative = one_step_per_branch(sp.diff(fn.expr, X))
    return DerivativeForm(function=fn, expr=derivative, value_form=_value_form(fn.expr, derivative))


def one_step_per_branch(expr: sp.Expr) -> sp.Expr:
    """Every unit step of a multiple of x written as 𝟙[x > 0] or 𝟙[−x > 0] (printed 𝟙[x < 0]).

    SymPy differentiates max(x, x/100) into 𝟙[99x/100 > 0] + 𝟙[−99x/100 > 0]/100; scaling the
    argument of a step by a positive number changes nothing (𝟙 at 0 aside, a matter of convention
    at a kink), so each branch keeps one step of the plain variable.

    Example:
        >>> steps = one_step_per_branch(sp.Heaviside(sp.Rational(99, 100) * X) + sp.Heaviside(-sp.Rational(99, 100) * X) / 100)
        >>> steps == sp.Heaviside(X) + sp.Heaviside(-X) / 100  # the order SymPy prints the two terms in varies
        True
    """

    def plain(step: sp.Heaviside) -> sp.Expr:
        coefficient, rest = step.args[0].as_coeff_Mul()
        if rest != X or coefficient == 0:
            return step
        return step.func(X if coefficient > 0 else -X, *step.args[1:])

    return expr.replace(lambda e: isinstance(e, sp.Heaviside), plain)


@lru_cache(maxsize=256)
def _value_form(expr: sp.Expr, derivative: sp.Expr) -> sp.Expr | None:
    if not derivative.has(X):
        return None  # a constant needs no rewriting
    # The derivative with the function replaced by u (tanh: 1 − u²) is tried before solving u = σ(x)
    # for x, which costs seconds and is needed only when the derivative is not written in σ itself.
    direct = _verified(derivative.subs(expr, U), expr, derivative)
    if direct is not None:
        return direct
    solved = None
    with time_limit(VALUE_FORM_TIME_LIMIT) as limit:
        try:
            solutions = sp.solve(sp.Eq(U, expr), X)
            forms = {sp.factor(sp.simplify(derivative.xreplace({X: s}))) for s in solutions}
            if len(forms) == 1:
                solved = forms.pop()
        except (NotImplementedError, ValueError, TypeError, RecursionError):
            pass  # no inverse: keep the derivative as a function of the argument
        except TimeLimitExceeded as err:
            if err.limit is not limit:
                raise  # the whole derivation ran out of time, not just this attempt
    return None if solved is None else _verified(solved, expr, derivative)


def _verified(candidate: sp.Expr, expr: sp.Expr, derivative: sp.Expr) -> sp.Expr | None:
    """``candidate``, tidied, if it is a polynomial in u alone that equals ``derivative`` once u = ``expr``; else None."""
    if candidate.has(X) or not candidate.is_polynomial(U):
        return None
    with time_limit(VALUE_FORM_TIME_LIMIT) as limit:
        try:
            if sp.simplify(candidate.xreplace({U: expr}) - derivative) == 0:
                return _tidy(candidate)
        except RecursionError:
            return None
        except TimeLimitExceeded as err:
            if err.limit is not limit:
                raise
    return None


def _tidy(poly: sp.Expr) -> sp.Expr:
    """The shortest of the usual ways to write a polynomial (u(1 − u) rather than u − u²)."""
    options = [sp.factor(poly), sp.expand(poly)]
    factored = sp.factor(poly)
    coeff, rest = factored.as_coeff_Mul()
    if coeff == -1 and isinstance(rest, sp.Mul):
        # −u(u − 1) reads better as u(1 − u): flip the sign of one linear factor.
        flipped = [f for f in rest.args if isinstance(f, sp.Add) and sp.degree(f, U) == 1]
        if flipped:
            first = flipped[0]
            others = [f for f in rest.args if f is not first]
            options.insert(0, sp.Mul(*others, sp.expand(-first), evaluate=False))
    return min(options, key=lambda e: (sp.count_ops(e), len(str(e))))
