"""The softmax output layer with the categorical cross-entropy, differentiated by SymPy.

The output function of a classifier over d ≥ 2 classes is not elementwise:

    f_{ik} = e^{z_{ik}} / Σ_{k''} e^{z_{ik''}},        ℓ_i = −Σ_{k'} y_{ik'} log f_{ik'},

so the chain rule's first two factors carry a sum over the outputs k':

    δ¹_{ik} = ∂R/∂z_{ik} = Σ_{k'} ∂ℓ/∂f_{ik'} · ∂f_{ik'}/∂z_{ik}.

Here SymPy differentiates both (``sympy.diff`` of the explicit sum, its Kronecker deltas
evaluated by :func:`~symbp.symbolic.notation.collapse`), and the product cancels to
f_{ik} Σ_{k'} y_{ik'} − y_{ik}, which is f − y because the targets of one sample sum to
one (one-hot labels, or probabilities).  The loss is also written from z, its logarithm
expanded: ℓ_i = log Σ_k e^{z_{ik}} − Σ_k y_{ik} z_{ik}, the form evaluated with a stable
log-sum-exp (never the log of a probability that rounds to 0).

This is the symbolic part of a softmax classifier: its wiring into the spec, the
derivation of the hidden layers, the printers and the kernels is to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.symbolic.model import d, f, i, k, k_bound, k_norm, softmax_of, y, z
from symbp.symbolic.notation import collapse


def softmax(unit: sp.Symbol) -> sp.Expr:
    """f_{i,unit} = e^{z_{i,unit}} / Σ_{k''} e^{z_{ik''}}, written out in z."""
    return softmax_of(z[i, unit])


def normaliser() -> sp.Expr:
    """Σ_{k''=1}^{d} e^{z_{ik''}}, the softmax's denominator."""
    return sp.Sum(sp.exp(z[i, k_norm]), (k_norm, 1, d))


def loss_term(target: sp.Expr, output: sp.Expr) -> sp.Expr:
    """One class's share of ℓ_i: −y log f."""
    return -target * sp.log(output)


@dataclass(frozen=True)
class SoftmaxFactors:
    """The chain rule's first factors for a softmax output, each computed by SymPy.

    Attributes:
        dR_df: ∂ℓ_i/∂f_{ik'} = −y_{ik'}/f_{ik'}.
        df_dz: ∂f_{ik'}/∂z_{ik} = f_{ik'} (δ_{kk'} − f_{ik}), in the named f.
        chain: (dR_df, df_dz), the factors of the uncancelled product Σ_{k'} dR_df · df_dz, kept apart for printing
            (multiplied, SymPy at once cancels f_{ik'}).
        collapsed: the product with its Kronecker delta evaluated: f_{ik} Σ_{k'} y_{ik'} − y_{ik}.
        delta1: δ¹_{ik} = f_{ik} − y_{ik}, with Σ_{k'} y_{ik'} = 1.
        loss_in_z: ℓ_i from z: log Σ_k e^{z_{ik}} − Σ_k y_{ik} z_{ik} (with Σ_k y_{ik} = 1).
    """

    dR_df: sp.Expr
    df_dz: sp.Expr
    chain: tuple[sp.Expr, sp.Expr]
    collapsed: sp.Expr
    delta1: sp.Expr
    loss_in_z: sp.Expr


def softmax_factors() -> SoftmaxFactors:
    """Differentiate the softmax and the cross-entropy and cancel their product.

    Example:
        >>> softmax_factors().delta1
        f[i, k] - y[i, k]
    """
    dR_df = sp.diff(loss_term(y[i, k_bound], f[i, k_bound]), f[i, k_bound])
    df_dz = _named(collapse(sp.diff(softmax(k_bound), z[i, k])))
    collapsed = _pull_out_of_sums(collapse(sp.Sum(sp.expand(dR_df * df_dz), (k_bound, 1, d))))
    # The targets of one sample sum to one (a one-hot label, or a distribution over the classes).
    delta1 = sp.expand(collapsed.xreplace({sp.Sum(y[i, k_bound], (k_bound, 1, d)): sp.Integer(1)}))
    return SoftmaxFactors(dR_df, df_dz, (dR_df, df_dz), collapsed, delta1, _loss_in_z())


def _named(expr: sp.Expr) -> sp.Expr:
    """SymPy's derivative with e^{z_{iu}} / Σ e^{z} named f_{iu}, in lowest terms."""
    total = sp.Dummy("S", positive=True)
    expr = expr.xreplace({normaliser(): total})
    expr = expr.replace(
        lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed) and e.args[0].base == z,
        lambda e: f[e.args[0].indices] * total,
    )
    named = sp.factor(sp.cancel(expr))
    if named.has(total):
        raise AssertionError(f"the softmax's derivative kept its denominator: {named}")
    return named


def _pull_out_of_sums(expr: sp.Expr) -> sp.Expr:
    """Σ_{k'} c·u(k') → c·Σ_{k'} u(k') for every factor c that does not depend on k'."""

    def pull(total: sp.Sum) -> sp.Expr:
        (index, *_), = total.limits
        outside, inside = total.function.as_independent(index, as_Add=False)
        return outside * sp.Sum(inside, *total.limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum) and len(e.limits) == 1, pull)


def _loss_in_z() -> sp.Expr:
    """Σ_{k'} −y log f with log(e^{z}/Σ e^{z}) expanded to z − log Σ e^{z}, and Σ_{k'} y_{ik'} = 1."""
    term = loss_term(y[i, k_bound], softmax(k_bound))
    expanded = sp.expand(sp.expand_log(term, force=True))
    total = _pull_out_of_sums(sp.Sum(expanded, (k_bound, 1, d)).expand())
    return total.xreplace({sp.Sum(y[i, k_bound], (k_bound, 1, d)): sp.Integer(1)})
