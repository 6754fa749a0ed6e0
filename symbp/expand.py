"""The expanded view: every component of ∇₁R and ∇₂R for concrete M, p and d.

Here R is written out in full — no index notation, no chain rule — and SymPy
differentiates it by each parameter component in turn.  This is independent
of the generic derivation, which the tests instantiate and compare with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from symbp import latex as lx
from symbp import model as mo
from symbp.errors import SpecError

if TYPE_CHECKING:
    from symbp.derivation import Derivation

#: Largest number of hidden-layer weights M·p written out component by component.
MAX_EXPANDED = 50


def check_expandable(derivation: Derivation) -> tuple[int, int, int]:
    """(M, p, d) if the expanded view is allowed for this spec, else a SpecError saying why not."""
    spec = derivation.spec
    if spec.inputs is None:
        raise SpecError("the expanded view needs a concrete input size: pass --inputs P (with M·p ≤ 50), or drop --expand")
    size = spec.hidden * spec.inputs
    if size > MAX_EXPANDED:
        raise SpecError(
            f"not expanding: M·p = {spec.hidden}·{spec.inputs} = {size} components of W² would not be readable; "
            f"the expanded view is limited to M·p ≤ {MAX_EXPANDED} (the generic view holds for any M)"
        )
    return spec.hidden, spec.inputs, spec.outputs


def expanded_loss(derivation: Derivation) -> sp.Expr:
    """R = Σ_i Σ_k (y_ik − g(b¹_k + Σ_m W¹_km σ(b²_m + Σ_j W²_mj x_ij)))², sums over k, m, j written out."""
    M, p, d = check_expandable(derivation)
    model, i = derivation.model, mo.i
    hidden = [model.concrete_sigma(_a(i, m, p)) for m in range(1, M + 1)]
    terms = []
    for k in range(1, d + 1):
        z = mo.b1[k] + sp.Add(*(mo.W1[k, m] * hidden[m - 1] for m in range(1, M + 1)))
        terms.append(mo.loss_term(mo.y[i, k], model.concrete_g(z)))
    return sp.Sum(sp.Add(*terms), (i, 1, mo.n))


def _a(i: sp.Symbol, m: int, p: int) -> sp.Expr:
    return mo.b2[m] + sp.Add(*(mo.W2[m, j] * mo.x[i, j] for j in range(1, p + 1)))


def components(derivation: Derivation) -> dict[str, sp.Indexed]:
    """Every parameter component, keyed like ``"W2[1,2]"``, in the order W1, b1, W2, b2."""
    M, p, d = check_expandable(derivation)
    out: dict[str, sp.Indexed] = {}
    for k in range(1, d + 1):
        for m in range(1, M + 1):
            out[f"W1[{k},{m}]"] = mo.W1[k, m]
    for k in range(1, d + 1):
        out[f"b1[{k}]"] = mo.b1[k]
    for m in range(1, M + 1):
        for j in range(1, p + 1):
            out[f"W2[{m},{j}]"] = mo.W2[m, j]
    for m in range(1, M + 1):
        out[f"b2[{m}]"] = mo.b2[m]
    return out


def expanded_gradients(derivation: Derivation) -> dict[str, sp.Expr]:
    """∂R/∂θ for every component θ, from ``sympy.diff`` of the written-out R (a Sum over i)."""
    R = expanded_loss(derivation)
    return {key: sp.diff(R, component) for key, component in components(derivation).items()}


def abbreviate_expanded(expr: sp.Expr, derivation: Derivation) -> sp.Expr:
    """Name a_{im}, h_{im}, z_{ik}, f(x_i) in an expanded expression, for reading.

    SymPy rearranges the written-out pre-activations (e^{-(b + Wx)} becomes
    e^{-Wx - b}), so they are named by eliminating the bias instead of by
    pattern: b²_m = a_{im} − Σ_j W²_{mj} x_{ij}, which is exact.
    """
    M, p, d = check_expandable(derivation)
    model, i = derivation.model, mo.i
    for m in range(1, M + 1):
        expr = expr.subs(mo.b2[m], mo.a[i, m] - (_a(i, m, p) - mo.b2[m]))
        expr = expr.xreplace({model.concrete_sigma(mo.a[i, m]): mo.h[i, m]})
    for k in range(1, d + 1):
        weighted = sp.Add(*(mo.W1[k, m] * mo.h[i, m] for m in range(1, M + 1)))
        expr = expr.subs(mo.b1[k], mo.z[i, k] - weighted)
        expr = expr.xreplace({model.concrete_g(mo.z[i, k]): mo.f[i, k]})
    return expr


def expanded_lines(derivation: Derivation) -> list[str]:
    """One LaTeX equation per component, with the intermediates named."""
    lines = []
    gradients = expanded_gradients(derivation)
    for key, component in components(derivation).items():
        value = abbreviate_expanded(gradients[key], derivation)
        lines.append(rf"{lx.partial_tex(mo.R_symbol, component, derivation)} &= {lx.tex(value, derivation)}")
    return lines
