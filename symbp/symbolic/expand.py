"""The expanded view: every component of every gradient for concrete sizes.

Here R is written out in full — no index notation, no chain rule — and SymPy
differentiates it by each parameter component in turn.  This is independent
of the generic derivation, which the tests instantiate and compare with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from symbp.errors import SpecError
from symbp.symbolic.model import i, n, penalty_weight, x, y

if TYPE_CHECKING:
    from symbp.symbolic.derivation import Derivation

#: Largest number of hidden-layer weights (M·p for one hidden layer) written out component by component.
MAX_EXPANDED = 50


def check_expandable(derivation: Derivation) -> tuple[int, int, int]:
    """(M, p, d) — M the first hidden size — if the expanded view is allowed for this spec, else a SpecError saying why not."""
    spec = derivation.spec
    if spec.inputs is None:
        raise SpecError("the expanded view needs a concrete input size: pass --inputs P (with M·p ≤ 50), or drop --expand")
    sizes = (spec.inputs, *spec.hidden)
    size = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if size > MAX_EXPANDED:
        what = f"M·p = {spec.hidden[0]}·{spec.inputs} = {size}" if spec.depth == 1 else f"{size} hidden-layer weights"
        raise SpecError(
            f"not expanding: {what} components would not be readable; "
            + (f"the expanded view is limited to M·p ≤ {MAX_EXPANDED} " if spec.depth == 1 else f"the expanded view is limited to {MAX_EXPANDED} hidden-layer weights ")
            + "(the generic view holds for any size)"
        )
    return spec.hidden[0], spec.inputs, spec.outputs


def layer_sizes(derivation: Derivation) -> dict[int, int]:
    """Layer number → number of units, the input pseudo-layer included."""
    spec = derivation.spec
    sizes = {layer.number: spec.size(layer.number) for layer in derivation.model.parameter_layers}
    sizes[spec.depth + 2] = spec.inputs
    return sizes


def penalty_value(derivation: Derivation) -> sp.Expr:
    """λ as the spec's exact number."""
    return penalty_weight(derivation.spec)


def expanded_loss(derivation: Derivation) -> sp.Expr:
    """R = Σ_i Σ_k ℓ(y_ik, g(b¹_k + Σ_m W¹_km σ(…))) (+ λ Σ W²), every sum but the one over samples written out."""
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    inputs = model.layers[-1]
    values = [x[i, v] for v in range(1, sizes[inputs.number] + 1)]
    for layer in reversed(model.parameter_layers):
        pre = [layer.b[u] + sp.Add(*(layer.W[u, v] * values[v - 1] for v in range(1, len(values) + 1))) for u in range(1, sizes[layer.number] + 1)]
        values = [model.concrete(layer, value) for value in pre]
    terms = [model.loss_term(y[i, k], values[k - 1]) for k in range(1, sizes[1] + 1)]
    R = sp.Sum(sp.Add(*terms), (i, 1, n))
    if derivation.spec.l2:
        R += penalty_value(derivation) * sp.Add(*(c**2 for key, c in components(derivation).items() if key.startswith("W")))
    return R


def components(derivation: Derivation) -> dict[str, sp.Indexed]:
    """Every parameter component, keyed like ``"W2[1,2]"``, in the order W1, b1, W2, b2, …"""
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    out: dict[str, sp.Indexed] = {}
    for layer in model.parameter_layers:
        rows, cols = sizes[layer.number], sizes[layer.number + 1]
        for u in range(1, rows + 1):
            for v in range(1, cols + 1):
                out[f"W{layer.number}[{u},{v}]"] = layer.W[u, v]
        for u in range(1, rows + 1):
            out[f"b{layer.number}[{u}]"] = layer.b[u]
    return out


def expanded_gradients(derivation: Derivation) -> dict[str, sp.Expr]:
    """∂R/∂θ for every component θ, from ``sympy.diff`` of the written-out R (a Sum over i)."""
    R = expanded_loss(derivation)
    return {key: sp.diff(R, component) for key, component in components(derivation).items()}


def abbreviate_expanded(expr: sp.Expr, derivation: Derivation) -> sp.Expr:
    """Name a_{im}, h_{im}, z_{ik}, f(x_i) (every layer's) in an expanded expression, for reading.

    SymPy rearranges the written-out pre-activations (e^{-(b + Wx)} becomes
    e^{-Wx - b}), so they are named by eliminating the bias instead of by
    pattern: b²_m = a_{im} − Σ_j W²_{mj} x_{ij}, which is exact.
    """
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        for u in range(1, sizes[layer.number] + 1):
            weighted = sp.Add(*(layer.W[u, v] * below.post[i, v] for v in range(1, sizes[below.number] + 1)))
            expr = expr.subs(layer.b[u], layer.pre[i, u] - weighted)
            expr = expr.xreplace({model.concrete(layer, layer.pre[i, u]): layer.post[i, u]})
    return expr
