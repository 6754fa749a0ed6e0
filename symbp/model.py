"""The symbolic model: the network and its loss R as SymPy expressions.

Second stage of the pipeline (spec → **model** → derivation → printing →
rendering → files).  Everything is written in the index notation of a
textbook, with SymPy ``IndexedBase`` arrays and ``Sum``:

    a_{im} = b²_m + Σ_j W²_{mj} x_{ij}        h_{im} = σ(a_{im})
    z_{ik} = b¹_k + Σ_m W¹_{km} h_{im}        f_{ik} = g(z_{ik})
    R = Σ_i Σ_k (y_{ik} − f_{ik})²

Indices: i runs over the n samples, j over the p inputs, m over the M hidden
units and k over the d outputs.  σ and g appear as *undefined* SymPy functions
(``sigma``, ``g``) so that the derivation keeps the chain-rule structure; the
concrete σ and g of the spec, and their derivatives, are substituted after
SymPy has differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.expressions import X
from symbp.spec import Spec

# Index symbols.  The doubled names are the bound (summation) indices.
i, j, m, k = sp.symbols("i j m k", integer=True, positive=True)
jj, mm, kk = sp.symbols("j' m' k'", integer=True, positive=True)
n, M, p, d = sp.symbols("n M p d", integer=True, positive=True)

# Data, parameters and named intermediates.
x = sp.IndexedBase("x", real=True)
y = sp.IndexedBase("y", real=True)
W1 = sp.IndexedBase("W1", real=True)
b1 = sp.IndexedBase("b1", real=True)
W2 = sp.IndexedBase("W2", real=True)
b2 = sp.IndexedBase("b2", real=True)
a = sp.IndexedBase("a", real=True)
h = sp.IndexedBase("h", real=True)
z = sp.IndexedBase("z", real=True)
f = sp.IndexedBase("f", real=True)
delta1 = sp.IndexedBase("delta1", real=True)
delta2 = sp.IndexedBase("delta2", real=True)

#: The loss, as a plain symbol for printing ∂R/∂(...).
R_symbol = sp.Symbol("R")

#: The abstract activation and output function, and their derivatives.
sigma = sp.Function("sigma", real=True)
g = sp.Function("g", real=True)
sigma_prime = sp.Function("sigma_prime", real=True)
g_prime = sp.Function("g_prime", real=True)

#: Parameter names in the order of the notation (W¹, b¹, W², b²), with their generic component.
PARAMETERS = ("W1", "b1", "W2", "b2")
COMPONENTS: dict[str, sp.Indexed] = {
    "W1": W1[k, m],
    "b1": b1[k],
    "W2": W2[m, j],
    "b2": b2[m],
}
#: Which size each index runs up to.
SIZE: dict[sp.Symbol, sp.Symbol] = {i: n, j: p, m: M, k: d, jj: p, mm: M, kk: d}


def a_def(sample: sp.Expr, unit: sp.Expr) -> sp.Expr:
    """a_{i m} = b²_m + Σ_j W²_{m j} x_{i j}, the hidden pre-activation."""
    return b2[unit] + sp.Sum(W2[unit, jj] * x[sample, jj], (jj, 1, p))


def z_def(sample: sp.Expr, out: sp.Expr, hidden: sp.Expr | None = None) -> sp.Expr:
    """z_{i k} = b¹_k + Σ_m W¹_{k m} h_{i m}; ``hidden`` replaces h_{i m} (with m bound) when given."""
    inner = h[sample, mm] if hidden is None else hidden
    return b1[out] + sp.Sum(W1[out, mm] * inner, (mm, 1, M))


def loss_term(target: sp.Expr, output: sp.Expr) -> sp.Expr:
    """ℓ(y, f) = (y − f)²: one sample's, one output's share of R."""
    return (target - output) ** 2


@dataclass(frozen=True)
class Model:
    """The spec's network as SymPy expressions.

    Attributes:
        spec: the validated spec.
        R: the loss as one nested expression, with the abstract σ and g.
        sigma_expr, g_expr: the concrete σ(x) and g(x) of the spec.
    """

    spec: Spec
    R: sp.Expr
    sigma_expr: sp.Expr
    g_expr: sp.Expr

    def concrete_sigma(self, u: sp.Expr) -> sp.Expr:
        return self.sigma_expr.subs(X, u)

    def concrete_g(self, u: sp.Expr) -> sp.Expr:
        return self.g_expr.subs(X, u)


def build(spec: Spec) -> Model:
    """Build R = Σ_i Σ_k (y_{ik} − g(b¹_k + Σ_m W¹_{km} σ(b²_m + Σ_j W²_{mj} x_{ij})))².

    Example:
        >>> from symbp.spec import make_spec
        >>> build(make_spec(hidden=2)).R.has(sigma)
        True
    """
    # Bound indices (k', m', j') differ from the free ones (k, m, j) of the
    # gradient components, so that differentiating by W¹_{km} picks output k.
    nested_z = z_def(i, kk, hidden=sigma(a_def(i, mm)))
    R = sp.Sum(loss_term(y[i, kk], g(nested_z)), (kk, 1, d), (i, 1, n))
    return Model(spec=spec, R=R, sigma_expr=spec.sigma.expr, g_expr=spec.g.expr)
