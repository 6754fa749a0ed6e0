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
from symbp.symbolic.model import Model, build, i


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
