"""The expanded view: every component of every gradient for concrete sizes.

Here R is written out for the spec's sizes — no index notation, no chain rule —
and SymPy differentiates it by each parameter component in turn.  Two forms:

* :func:`expanded_gradients`, with the spec's σ and g written out: independent of
  the generic derivation, which the tests instantiate and compare with it, and the
  expressions :func:`symbp.testing.reference` evaluates;
* :func:`expanded_in_notation`, with σ and g kept as functions while SymPy
  differentiates, so that its answer can be written in the notation of the rest
  of the derivation (a, h, z, f named; σ′ and g′ in their one form; the loss's
  derivative times g′ as δ¹, f − y for the cross-entropy): the ``--expand`` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from symbp.errors import InternalError, SpecError
from symbp.spec.network import Loss
from symbp.symbolic.model import LAMBDA, f, i, n, penalty_weight, x, y, z
from symbp.symbolic.notation import Concrete, name_derivatives

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
    """R = (1/n) Σ_i Σ_k ℓ(y_ik, g(b¹_k + Σ_m W¹_km σ(…))) (+ λ Σ W²), every sum but the one over samples written out."""
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    inputs = model.layers[-1]
    values = [x[i, v] for v in range(1, sizes[inputs.number] + 1)]
    for layer in reversed(model.parameter_layers):
        pre = [layer.b[u] + sp.Add(*(layer.W[u, v] * values[v - 1] for v in range(1, len(values) + 1))) for u in range(1, sizes[layer.number] + 1)]
        if layer.number == 1 and derivation.spec.loss is Loss.SOFTMAX:
            values = [sp.exp(value) / sp.Add(*(sp.exp(other) for other in pre)) for value in pre]
        else:
            values = [model.concrete(layer, value) for value in pre]
    terms = [model.loss_term(y[i, k], values[k - 1]) for k in range(1, sizes[1] + 1)]
    R = model.scale * sp.Sum(sp.Add(*terms), (i, 1, n))
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


#: The loss ℓ(y, f) of one output, kept as a function while SymPy differentiates the written-out R.
_LOSS = sp.Function("ell", real=True)


def expanded_in_notation(derivation: Derivation) -> dict[str, sp.Expr]:
    """∂R/∂θ for every component θ, from ``sympy.diff`` of the written-out R, in the notation of the derivation.

    R is written out with ℓ, σ and g as functions, so that SymPy's answer holds ℓ′, σ′ and g′
    at the written-out values: those are named a, h, z, f layer by layer; ∂ℓ/∂f g′(z), the loss's
    derivative at output k, becomes the derivation's δ¹ for that output (cancelled for the
    cross-entropy), and σ′ and the other g′ their one form.

    Example:
        >>> from symbp.symbolic.derivation import derive
        >>> expanded_in_notation(derive(hidden=1, inputs=1))["W2[1,1]"]
        Sum((1 - h[i, 1]**2)*(2*f[i, 1] - 2*y[i, 1])*W1[1, 1]*x[i, 1], (i, 1, n))
    """
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    # Each layer's pre-activations twice: as built (in the values of the layer below) and as
    # named (in h of the layer below), inside out, to name SymPy's answer in the same order.
    values = [x[i, v] for v in range(1, sizes[model.layers[-1].number] + 1)]
    named = []
    for layer in reversed(model.parameter_layers):
        below = model.below(layer)
        units = range(1, sizes[layer.number] + 1)
        pre = [layer.b[u] + sp.Add(*(layer.W[u, v] * values[v - 1] for v in range(1, len(values) + 1))) for u in units]
        named.append((layer, [layer.b[u] + sp.Add(*(layer.W[u, v] * below.post[i, v] for v in range(1, len(values) + 1))) for u in units]))
        values = [layer.function(value) for value in pre]
    outputs = range(1, sizes[1] + 1)
    R = sp.Sum(sp.Add(*(_LOSS(y[i, k], values[k - 1]) for k in outputs)), (i, 1, n))
    if derivation.spec.l2:
        R += LAMBDA * sp.Add(*(c**2 for key, c in components(derivation).items() if key.startswith("W")))
    output = model.layer(1)
    # ℓ′ at output k times g′(z_k) is δ¹ at k: ℓ′ is put in as δ¹/g′ while g′ is still a function, and g′ cancels.
    # δ¹ holds the mean's 1/n, which is why R above is the plain sum.
    loss_derivatives = {k: derivation.deltas["delta1"].xreplace({model.layer(1).unit: k}) / output.prime(z[i, k]) for k in outputs}
    concrete = Concrete(model, derivation.forms)
    out = {}
    for key, component in components(derivation).items():
        gradient = name_derivatives(sp.diff(R, component), model)
        for layer, pre in named:
            gradient = gradient.xreplace({value: layer.pre[i, u] for u, value in enumerate(pre, start=1)})
            gradient = gradient.xreplace({layer.function(layer.pre[i, u]): layer.post[i, u] for u in range(1, len(pre) + 1)})
        gradient = gradient.replace(_is_loss_derivative, lambda e: loss_derivatives[_output_of(e)])
        out[key] = concrete(gradient)
    return out


def _is_loss_derivative(e: sp.Basic) -> bool:
    """SymPy's ∂ℓ(y, ξ)/∂ξ at ξ = f_k: Subs(Derivative(ell(y, ξ), ξ), ξ, f[i, k]), or Derivative(ell(y, f), f) once f is named."""
    derivative = e.expr if isinstance(e, sp.Subs) else e
    return isinstance(derivative, sp.Derivative) and derivative.expr.func == _LOSS


def _output_of(e: sp.Subs | sp.Derivative) -> int:
    (point,) = e.point if isinstance(e, sp.Subs) else e.variables
    if not (isinstance(point, sp.Indexed) and point.base == f):
        raise InternalError(f"the loss's derivative is taken at {point}, not at a named output")
    return int(point.indices[1])
