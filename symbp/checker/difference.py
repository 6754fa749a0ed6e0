"""yours − derived in index notation, simplified as far as SymPy gets within a time limit."""

from __future__ import annotations

import sympy as sp

from symbp.checker.notation import SAMPLE, Notation
from symbp.limits import TimeLimitExceeded, time_limit
from symbp.symbolic.model import LAMBDA, penalty_weight

#: Seconds for SymPy to simplify the difference, then for factoring alone.
SIMPLIFY_TIME_LIMIT = 3.0
QUICK_TIME_LIMIT = 1.0


def difference(user: sp.Expr, derived: sp.Expr, notation: Notation, equal: bool = False) -> sp.Expr:
    """yours − derived, the sums over the same indices merged and their bodies simplified (within a time limit).

    When the numbers say the two are ``equal`` and SymPy does not get to 0 in the
    named intermediates, it tries once more with h = σ(a), f = g(z) written out.

    Args:
        user: the formula, read with its intermediates named (h, σ′ in its value form).
        derived: the derived component.
        notation: the notation of the spec.
        equal: the numbers say the two are equal.

    Returns:
        The difference, with λ as its number; 0 when SymPy confirms they are equal.

    Example:
        >>> from symbp.checker.notation import notation_for
        >>> from symbp.spec.network import make_spec
        >>> from symbp.symbolic.model import f, h, i, k, m, n, y
        >>> notation = notation_for(make_spec(hidden=3, sigma="tanh"))
        >>> difference(sp.Sum(f[i, k] * h[i, m], (i, 1, n)), sp.Sum(y[i, k] * h[i, m], (i, 1, n)), notation)
        Sum((f[i, k] - y[i, k])*h[i, m], (i, 1, n))
    """
    penalty = {LAMBDA: penalty_weight(notation.derivation.spec)}
    raw = user.xreplace(penalty) - derived.xreplace(penalty)
    simplified = _simplified(raw)
    if equal and simplified != 0 and _simplified(_unnamed(raw, notation)) == 0:
        return sp.Integer(0)
    return simplified


def _simplified(raw: sp.Expr) -> sp.Expr:
    # sympy.simplify first; if it runs out of time, factoring alone; then only the sums merged.
    for effort, seconds in ((2, SIMPLIFY_TIME_LIMIT), (1, QUICK_TIME_LIMIT)):
        try:
            with time_limit(seconds) as limit:
                return _merged(raw, effort)
        except TimeLimitExceeded as err:
            if err.limit is not limit:
                raise
        except (RecursionError, NotImplementedError, TypeError, ValueError):
            break
    return _merged(raw, 0)


def _unnamed(expr: sp.Expr, notation: Notation) -> sp.Expr:
    """h[i,m] → σ(a[i,m]), f[i] → g(z[i]): the values of the layers in terms of their pre-activations."""
    model = notation.model
    posts = {layer.post: layer for layer in model.parameter_layers}
    mapping = {atom: model.concrete(posts[atom.base], posts[atom.base].pre[atom.indices]) for atom in expr.atoms(sp.Indexed) if atom.base in posts}
    return expr.xreplace(mapping)


def _merged(expr: sp.Expr, effort: int) -> sp.Expr:
    """Σ A − Σ B over the same indices → Σ (A − B), each body as short as SymPy makes it."""
    groups: dict[tuple, list[sp.Expr]] = {}
    rest = []
    for term in sp.Add.make_args(expr):
        coefficient, core = term.as_coeff_Mul()
        core = _flat_sum(core)
        if isinstance(core, sp.Sum):
            limits = tuple(sorted(core.limits, key=str))
            groups.setdefault(limits, []).append(coefficient * core.function)
        else:
            rest.append(term)
    out = [_simplest(sp.Add(*rest), effort)] if rest else []
    for limits, bodies in groups.items():
        body = _simplest(sp.Add(*bodies), effort)
        if body != 0:
            # The sample index outermost, as a formula is written: sum(BODY, i, k).
            out.append(sp.Sum(body, *sorted(limits, key=lambda limit: limit[0] == SAMPLE)))
    return sp.Add(*out)


def _flat_sum(expr: sp.Expr) -> sp.Expr:
    """One sum over all the indices of nested sums and of sums in products, where no index is captured.

    sum(sum(BODY, k), i) → sum(BODY, k, i); c·sum(BODY, m) → sum(c·BODY, m) when c does not use m:
    a formula typed with its sums outermost then meets the derived component, which nests one
    sum per layer, in one group of :func:`_merged`, and their bodies cancel.

    Example:
        >>> from symbp.symbolic.model import h, i, m, n, M, y
        >>> _flat_sum(sp.Sum(y[i, 1] * sp.Sum(h[i, m], (m, 1, M)), (i, 1, n)))
        Sum(h[i, m]*y[i, 1], (m, 1, M), (i, 1, n))
    """
    if isinstance(expr, sp.Sum):
        inner = _flat_sum(expr.function)
        if isinstance(inner, sp.Sum) and not _bound(inner) & _bound(expr):
            return sp.Sum(inner.function, *inner.limits, *expr.limits)
        return sp.Sum(inner, *expr.limits) if inner is not expr.function else expr
    if not isinstance(expr, sp.Mul):
        return expr
    factors = [_flat_sum(factor) for factor in expr.args]
    body, limits = [], []
    for index, factor in enumerate(factors):
        others = factors[:index] + factors[index + 1:]
        taken = {limit[0] for limit in limits}
        if isinstance(factor, sp.Sum) and not _bound(factor) & (taken | set().union(*(o.free_symbols for o in others))) \
                and not taken & factor.free_symbols:
            body.append(factor.function)
            limits += factor.limits
        else:
            body.append(factor)
    return sp.Sum(sp.Mul(*body), *limits) if limits else sp.Mul(*factors)


def _bound(total: sp.Sum) -> set[sp.Symbol]:
    """The indices a sum binds."""
    return {limit[0] for limit in total.limits}


def _simplest(expr: sp.Expr, effort: int) -> sp.Expr:
    """The shortest form found: ``effort`` 0 as it is, 1 also factored, 2 also sympy.simplify."""
    if effort == 0:
        return expr
    expanded = sp.expand(expr)
    if expanded == 0:
        return sp.Integer(0)
    options = [expr, sp.factor(expanded)]
    if effort > 1 and not expr.has(sp.Sum):
        # simplify's own handling of sums is slow and rarely shorter.
        options.append(sp.simplify(expr))
    return min(options, key=lambda e: (sp.count_ops(e), len(str(e))))
