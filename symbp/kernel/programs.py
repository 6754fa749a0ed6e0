"""The kernel's programs: the statements each kernel function computes, in index notation, from the derivation.

A stage of :func:`symbp.kernel.emit.render_kernel` (**programs** → lowering → scheduling → printing →
context → text).  Nothing is computed by hand here: the forward pass
comes from the model's definitions of a, h, z, f; the loss from ℓ(y, f) (from z
when it has logarithms); the backward pass from δ¹, δ², … and the gradients in
their backpropagation form.  Overflow-free forms of σ, g and their derivatives
(exact identities, :mod:`symbp.symbolic.stable`) are put in at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Generic, TypeVar

import sympy as sp

from symbp.symbolic.derivation import Derivation
from symbp.spec.network import Loss
from symbp.symbolic.model import LAMBDA, R_symbol, d, f, i, k, k_norm, n, penalty_weight, s, softmax_of, y, z
from symbp.symbolic.stable import LogSumExp, log_sum_exp, stabilize

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True)
class Statement:
    """One statement of the derivation in index notation: ``name[axes] = expr``.

    With ``total`` the statement is a scalar ``name = expr`` where expr is a sum over every index.
    """

    name: str
    axes: tuple[sp.Symbol, ...]
    expr: sp.Expr
    total: bool = False


@dataclass(frozen=True)
class Blocks(Generic[T]):
    """One value for each function body of a kernel; each stage of the code path maps one kind to the next.

    Attributes:
        forward: ``_forward``: a, h, …, z, f for all samples.
        loss: ``_loss_block``: R over one block of samples.
        grad: ``_loss_and_grad_block``: R and the gradient's sums over one block (sharing temporaries).
        loss_final: applied to R once, after the last block (the mean's 1/n, the L2 penalty).
        grad_final: applied to the gradients once, after the last block (1/n, the penalty's derivative).
    """

    forward: T
    loss: T
    grad: T
    loss_final: T
    grad_final: T

    def map(self, stage: Callable[[T, bool], V]) -> Blocks[V]:
        """Apply ``stage(value, blocked)`` to each body; ``blocked``: it runs on one block of samples."""
        return Blocks(**{field.name: stage(getattr(self, field.name), field.name in BLOCKED) for field in fields(self)})

    def values(self) -> tuple[T, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))

    def items(self) -> tuple[tuple[str, T], ...]:
        """(name, body) for each body, in order."""
        return tuple((field.name, getattr(self, field.name)) for field in fields(self))


#: The bodies that run once per block of samples (the kernel adds up their sums).
BLOCKED = frozenset({"loss", "grad"})

KernelPrograms = Blocks[tuple[Statement, ...]]


def kernel_programs(derivation: Derivation) -> KernelPrograms:
    """The statements of every kernel function, straight from the derivation.

    Example:
        >>> from symbp.symbolic.derivation import derive
        >>> [st.name for st in kernel_programs(derive(hidden=3)).forward]
        ['a', 'h', 'z', 'f']
    """
    model = derivation.model
    forward = []
    softmax = model.spec.loss is Loss.SOFTMAX
    for layer in reversed(model.parameter_layers):
        forward.append(Statement(str(layer.pre.label), (i, layer.unit), model.pre_def(layer, i, layer.unit)))
        if layer.number == 1 and softmax:
            forward += _softmax_statements()
        else:
            forward.append(Statement(str(layer.post.label), (i, layer.unit), model.concrete(layer, layer.pre[i, layer.unit])))
    # A loss with logarithms is computed from z (log(1 + e^z) − y z for the cross-entropy), never from log f;
    # the softmax's from its log-partition s (y (s − z)).
    term = model.loss_in_z(y[i, k], z[i, k])
    if term is None:
        term = model.loss_term(y[i, k], f[i, k])
    elif softmax:
        term = log_sum_exp(term).xreplace({_LOG_PARTITION: s[i]})
    loss = [Statement("R", (), sp.Sum(term, (k, 1, d), (i, 1, n)), total=True)]
    # The blocks add up sums over samples; the mean's 1/n (of all n rows given) is applied once, after
    # the last block: δ¹ without it (δ^l, l ≥ 2, are built from δ¹ and carry no factor of their own).
    scale = model.scale
    backward = [Statement(f"delta{layer.number}", (i, layer.unit), derivation.deltas[f"delta{layer.number}"]) for layer in model.parameter_layers]
    backward[0] = replace(backward[0], expr=backward[0].expr / scale)
    grad_final, loss_final = [], []
    for name, gradient in derivation.parameters.items():
        backward.append(Statement(f"g{name}", gradient.component.indices, gradient.data_part))
        if gradient.penalty != 0 or scale != 1:
            accumulated = sp.IndexedBase(f"g{name}")[gradient.component.indices]
            final = scale * accumulated + _numeric_lambda(gradient.penalty, derivation)
            grad_final.append(Statement(f"g{name}", gradient.component.indices, final))
    if model.penalty != 0 or scale != 1:
        loss_final.append(Statement("R", (), scale * R_symbol + _numeric_lambda(model.penalty, derivation)))
    programs = Blocks(forward=forward, loss=loss, grad=loss + backward, loss_final=loss_final, grad_final=grad_final)
    # Overflow-free forms of σ, g and their derivatives (exact identities).
    return programs.map(lambda statements, blocked: tuple(replace(st, expr=stabilize(st.expr)) for st in statements))


#: log Σ_{k''} e^{z_{ik''}}, the softmax's log-partition, computed once per sample as s.
_LOG_PARTITION = LogSumExp(z[i, k_norm], k_norm)


def _softmax_statements() -> list[Statement]:
    """s_i = log Σ_k e^{z_{ik}} (printed stably), then f_{ik} = e^{z_{ik} − s_i}: the softmax from its logarithm, SymPy's
    expand_log of log(e^{z}/Σ e^{z}), which overflows nowhere."""
    log_f = log_sum_exp(sp.expand_log(sp.log(softmax_of(z[i, k])), force=True))
    return [Statement("s", (i,), _LOG_PARTITION), Statement("f", (i, k), sp.exp(log_f.xreplace({_LOG_PARTITION: s[i]})))]


def _numeric_lambda(expr: sp.Expr, derivation: Derivation) -> sp.Expr:
    """λ replaced by the spec's number: the kernel is built for one λ."""
    return expr.xreplace({LAMBDA: penalty_weight(derivation.spec)})
