"""Overflow-free rewrites, done on the SymPy side so that they apply to any σ or g.

A kernel evaluates σ, g and their derivatives at pre-activations that can be
large (|a| ~ 1e4 after a bad step).  Written naively, 1/(1 + e^{−a}) and
log(1 + e^{a}) overflow there although their values are finite.  Before the
kernel's statements are lowered, :func:`stabilize` rewrites

* log(1 + e^{w})            → logaddexp(0, w)                 (stable log-add-exp);
* (1 + e^{w})^{−n}          → L(−w)^n, L the logistic function;
* e^{w} · L(−w)^n           → L(w) · L(−w)^{n−1}              (e^{w}/(1 + e^{w}) = L(w)),

and the kernel evaluates L(u) with its own ``_logistic``, 1/(1 + e^{−u}) where an
e^{−u} beyond the float's range is inf and L(u) the 0 it should be, without a
warning (see :data:`symbp.kernel.printer.FUNCTIONS`).  These are exact
identities; the derivation's LaTeX keeps the forms the user typed.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.numpy_nodes import logaddexp


class Logistic(sp.Function):
    """L(u) = 1/(1 + e^{−u}), kept whole so that it can be printed in an overflow-free form."""

    nargs = 1

    def _eval_rewrite_as_exp(self, u: sp.Expr, **kwargs: object) -> sp.Expr:
        return 1 / (1 + sp.exp(-u))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class LogSumExp(sp.Function):
    """log Σ_u e^{w(u)} over the index u (the softmax's log-partition), kept whole so that it is printed stably.

    Args of the expression: the summand's exponent w (an array reference) and the index u.
    """

    nargs = 2

    def _eval_rewrite_as_log(self, w: sp.Expr, index: sp.Symbol, **kwargs: object) -> sp.Expr:
        return sp.log(sp.Sum(sp.exp(w), (index, 1, sp.Symbol("d", integer=True, positive=True))))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


def log_sum_exp(expr: sp.Expr) -> sp.Expr:
    """Every log Σ_u e^{w} (a sum over one index of the exponential of an array) as :class:`LogSumExp`.

    Example:
        >>> from symbp.symbolic.model import softmax_of, i, k, z
        >>> log_sum_exp(sp.expand_log(sp.log(softmax_of(z[i, k])), force=True))
        -LogSumExp(z[i, k''], k'') + z[i, k]
    """

    def is_lse(e: sp.Basic) -> bool:
        if not (isinstance(e, sp.log) and isinstance(e.args[0], sp.Sum) and len(e.args[0].limits) == 1):
            return False
        body = e.args[0].function
        return isinstance(body, sp.exp) and isinstance(body.args[0], sp.Indexed)

    return expr.replace(is_lse, lambda e: LogSumExp(e.args[0].function.args[0], e.args[0].limits[0][0]))


def _exp_argument(base: sp.Expr) -> sp.Expr | None:
    """w if base is 1 + e^{w}, else None."""
    if isinstance(base, sp.Add) and len(base.args) == 2:
        one, other = sorted(base.args, key=lambda t: not t == 1)
        if one == 1 and isinstance(other, sp.exp):
            return other.args[0]
    return None


def _log_add_exp(e: sp.log) -> sp.Expr:
    return logaddexp(sp.Integer(0), _exp_argument(e.args[0]))


def _logistic_power(e: sp.Pow) -> sp.Expr:
    return Logistic(-_exp_argument(e.base)) ** (-e.exp)


def _merge(e: sp.Mul) -> sp.Expr:
    """Absorb each factor e^{w} into a factor L(−w)^n of the same product."""
    factors = list(e.args)
    changed = True
    while changed:
        changed = False
        for position, factor in enumerate(factors):
            if not isinstance(factor, sp.exp):
                continue
            w = factor.args[0]
            for other_position, other in enumerate(factors):
                base, power = other.as_base_exp()
                if isinstance(base, Logistic) and base.args[0] == -w and power.is_Integer and power >= 1:
                    factors[other_position] = Logistic(w) * Logistic(-w) ** (power - 1)
                    del factors[position]
                    changed = True
                    break
            if changed:
                break
    return sp.Mul(*factors)


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``expr`` so that evaluating it does not overflow where its value is finite.

    Example:
        >>> x = sp.Symbol("x")
        >>> stabilize(sp.log(1 + sp.exp(x)))
        logaddexp(0, x)
        >>> stabilize(sp.exp(x) / (1 + sp.exp(x)))
        Logistic(x)
    """
    expr = expr.replace(lambda e: isinstance(e, sp.log) and _exp_argument(e.args[0]) is not None, _log_add_exp)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0 and _exp_argument(e.base) is not None,
        _logistic_power,
    )
    return expr.replace(lambda e: isinstance(e, sp.Mul), _merge)
