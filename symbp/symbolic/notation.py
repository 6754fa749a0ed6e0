"""SymPy's answers rewritten in the notation: sums over Kronecker deltas evaluated, the forward pass named.

``sympy.diff`` of the nested loss answers with sums such as Σ_{m'} δ_{mm'} F(m')
and with the whole forward pass written out.  :func:`collapse` evaluates those
sums; :func:`abbreviate` names the intermediates a, h, z, f (every layer's) and the
derivatives σ′, g′, as the derivation writes them.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from symbp.errors import InternalError
from symbp.spec.network import make_spec
from symbp.symbolic.derivatives import DerivativeForm
from symbp.symbolic.model import Model, build, f, i, y


def collapse(expr: sp.Expr) -> sp.Expr:
    """Evaluate every sum over a Kronecker delta: Σ_{m'} δ_{m m'} F(m') = F(m).

    The free index (m) is a component index of the gradient and lies in the
    summation range by construction, so no range condition is needed.
    """
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Tuple)):
        return expr
    rebuilt = expr.func(*(collapse(arg) for arg in expr.args))
    if isinstance(rebuilt, sp.Sum):
        return _collapse_sum(rebuilt)
    return rebuilt


def _collapse_sum(total: sp.Sum) -> sp.Expr:
    body = total.function
    for limit in total.limits:
        body = _collapse_one(body, limit)
    return body


def _collapse_one(body: sp.Expr, limit: tuple) -> sp.Expr:
    var, lower, upper = limit
    if isinstance(body, sp.Add):
        return sp.Add(*(_collapse_one(term, limit) for term in body.args))
    if not body.has(var):
        return body * (upper - lower + 1)
    for factor in sp.Mul.make_args(body):
        if isinstance(factor, sp.KroneckerDelta) and var in factor.args:
            other = factor.args[0] if factor.args[1] == var else factor.args[1]
            if not other.has(var):
                rest = sp.Mul(*(f for f in sp.Mul.make_args(body) if f is not factor))
                return rest.xreplace({var: other})
    return sp.Sum(body, limit)


def abbreviate(expr: sp.Expr, model: Model | None = None) -> sp.Expr:
    """Name the nested forward pass: a_{im}, h_{im} = σ(a_{im}), z_{ik}, f_{ik} = g(z_{ik}) (every layer), and σ′, g′.

    Without a model, the reference case (one hidden layer) is assumed.
    """
    shell = model if model is not None else _reference_model()
    expr = name_derivatives(expr, shell)
    # Inside out: the first hidden layer's pre-activation is written in x, the next in h of the one below, …
    for layer in reversed(shell.parameter_layers):
        for unit in (layer.unit, layer.bound):
            expr = expr.xreplace({shell.pre_def(layer, i, unit): layer.pre[i, unit]})
            expr = expr.xreplace({layer.function(layer.pre[i, unit]): layer.post[i, unit]})
    return expr


def name_derivatives(expr: sp.Expr, model: Model) -> sp.Expr:
    """SymPy's derivatives of the abstract σ_l and g named σ_l′(·), g′(·); the rest as it is.

    Example:
        >>> from symbp.symbolic.model import a, m
        >>> model = build(make_spec())
        >>> sigma = model.layer(2).function
        >>> name_derivatives(sp.diff(sigma(a[i, m]), a[i, m]), model)
        sigma_prime(a[i, m])
    """
    primes = {layer.function: layer.prime for layer in model.layers if layer.function is not None}
    # SymPy writes σ′(a) as Subs(Derivative(σ(ξ), ξ), ξ, a): name those first,
    # then any derivative taken directly at an intermediate.
    is_abstract = lambda e: _is_abstract_derivative(e, primes)  # noqa: E731
    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and is_abstract(e.expr), lambda e: _name_derivative(e, primes))
    return expr.replace(is_abstract, lambda e: _name_derivative(e, primes))


@lru_cache(maxsize=1)
def _reference_model() -> Model:
    return build(make_spec())


def _is_abstract_derivative(e: sp.Basic, primes: dict) -> bool:
    return isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Function) and e.expr.func in primes


def _name_derivative(e: sp.Basic, primes: dict) -> sp.Expr:
    if isinstance(e, sp.Subs):
        (point,) = e.point
        derivative = e.expr
    else:
        derivative = e
        point = derivative.variables[0]
    if derivative.derivative_count != 1:
        raise InternalError(f"unexpected higher derivative {derivative}")
    return primes[derivative.expr.func](point)


class Concrete:
    """Puts the spec's σ′ and g′ in place of the abstract ones (σ′(a^l) → its value form in h^l, where there is one).

    Args:
        model: the network.
        forms: σ_l′ and g′ as SymPy derived them, by layer number (1: g).
    """

    def __init__(self, model: Model, forms: dict[int, DerivativeForm]) -> None:
        layers = model.parameter_layers
        self.forms = forms
        self.by_prime = {layer.prime: layer for layer in layers}
        self.by_pre = {layer.pre: layer for layer in layers}

    def value(self, e: sp.Function) -> sp.Expr:
        argument = e.args[0]
        if not (isinstance(argument, sp.Indexed) and argument.base in self.by_pre):
            raise InternalError(f"derivative taken at {argument}, which is not a named pre-activation")
        layer = self.by_pre[argument.base]
        return self.forms[layer.number].at(argument, layer.post[argument.indices])

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        return expr.replace(lambda e: isinstance(e, sp.Function) and e.func in self.by_prime, self.value)


def cancel(expr: sp.Expr) -> sp.Expr:
    """The rational function in lowest terms, factored: (−y/f + (1 − y)/(1 − f))·f(1 − f) → f − y."""
    return sp.factor(sp.cancel(sp.together(expr)))


def cancel_output_part(expr: sp.Expr) -> sp.Expr:
    """Cancel the factor of a product that involves only y and f (the loss's derivative times g′)."""
    expr = sp.factor_terms(expr)
    output_only = []
    rest = []
    for factor in sp.Mul.make_args(expr):
        bases = {item.base for item in factor.atoms(sp.Indexed)}
        (output_only if bases and bases <= {y, f} else rest).append(factor)
    if not output_only:
        return expr
    return cancel(sp.Mul(*output_only)) * sp.Mul(*rest)


def merge_sums(expr: sp.Expr, tidy) -> sp.Expr:
    """Σ A + Σ B over the same limits → Σ tidy(A + B), inside out."""
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Tuple)):
        return expr
    expr = expr.func(*(merge_sums(arg, tidy) for arg in expr.args))
    if isinstance(expr, sp.Add):
        groups: dict[tuple, list[sp.Expr]] = {}
        rest = []
        for term in expr.args:
            if isinstance(term, sp.Sum):
                groups.setdefault(term.limits, []).append(term.function)
            else:
                rest.append(term)
        if any(len(bodies) > 1 for bodies in groups.values()):
            merged = [sp.Sum(tidy(sp.Add(*bodies)), *limits) for limits, bodies in groups.items()]
            return sp.Add(*merged, *rest)
    if isinstance(expr, sp.Sum):
        return sp.Sum(tidy(expr.function), *expr.limits)
    return expr


# --- signs and common factors as the notation writes them (used by every printer) -----------------


def common_factor(expr: sp.Add) -> tuple[sp.Integer, sp.Expr] | None:
    """(c, rest) when every term of a sum shares a whole number c > 1: 2f − 2y → (2, f − y); else None.

    Example:
        >>> from symbp.symbolic.model import f, y
        >>> common_factor(2 * f[i, 1] - 2 * y[i, 1])
        (2, f[i, 1] - y[i, 1])
    """
    content, rest = expr.primitive()
    if content.is_Integer and content > 1 and isinstance(rest, sp.Add):
        return content, rest
    return None


def readable_product(expr: sp.Mul) -> tuple[sp.Expr, list[sp.Expr]] | None:
    """The coefficient and factors of a product as the notation writes it, or None when SymPy's reads so already.

    A whole number common to the terms of a factor joins the coefficient, (2f − 2y) h → 2 (f − y) h;
    a negative coefficient is taken into a factor, a sum with a number first (−(h² − 1) → 1 − h²),
    else a difference (−2 (y − f) h → 2 (f − y) h), so that the error f − y keeps one sign
    throughout a document; with a positive one, (h² − 1)(y − f) turns both: (1 − h²)(f − y).

    Example:
        >>> from symbp.symbolic.model import f, h, m, y
        >>> readable_product(-2 * (y[i, 1] - f[i, 1]) * h[i, m])
        (2, [f[i, 1] - y[i, 1], h[i, m]])
    """
    coefficient, factors = expr.as_coeff_mul()
    factors = list(factors)
    changed = False
    for position, factor in enumerate(factors):
        if isinstance(factor, sp.Add) and (shared := common_factor(factor)) is not None:
            coefficient, factors[position] = coefficient * shared[0], shared[1]
            changed = True
    # Factors whose sign may be turned: a sum with a negative number (h² − 1) and a difference (y − f).
    with_number = [p for p, factor in enumerate(factors) if isinstance(factor, sp.Add) and any(t.is_number and t < 0 for t in factor.args)]
    differences = [p for p, factor in enumerate(factors) if is_difference(factor)]
    if coefficient < 0:
        turned = (with_number or differences)[:1]
    else:
        turned = [with_number[0], differences[0]] if with_number and differences else []
    for position in turned:
        coefficient, factors[position] = -coefficient, -factors[position]
    return (coefficient, factors) if changed or turned else None


def is_difference(expr: sp.Expr) -> bool:
    """y − f, not 1 − h² or −y − f: a sum of terms of both signs and no number.

    Example:
        >>> from symbp.symbolic.model import f, y
        >>> is_difference(y[i, 1] - f[i, 1]), is_difference(1 - f[i, 1])
        (True, False)
    """
    if not isinstance(expr, sp.Add) or any(term.is_number for term in expr.args):
        return False
    signs = {term.could_extract_minus_sign() for term in expr.args}
    return signs == {True, False}
