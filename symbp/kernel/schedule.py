"""Scheduling: the decisions made on a kernel body's array operations before any line is printed.

A stage of :func:`symbp.kernel.emit.render_kernel` (programs → lowering → **scheduling** → printing →
context → text).  Five passes, each a pure function of the operations:

* **order** — in a blocked body, each sum over the block's samples (a gradient ∂R/∂W^l = Σᵢ δ^l_i h_i)
  moves up to just after the operation that completes its last operand, while δ^l and h are still in
  cache (:func:`sums_early`; at 20 000 × 32 with three layers of 64, 69 ms a call instead of 73);
* **contractions** — which NumPy call computes each :class:`~symbp.kernel.lower.Contract`
  (:func:`symbp.kernel.contract.contraction`);
* **in-place updates** — a bias added to a matrix product that nothing else reads
  updates that new array (``_c1 += b2[:, None]``) instead of allocating another;
* **folded products** — a broadcast product over an axis of length 1 (W¹ᵀδ¹ when d = 1) that one
  elementwise product reads is not made at all: that product multiplies by its factors in turn
  (``numpy.multiply(delta2, W1.T, out=delta2)``, then by ``delta1``), one M × n array fewer per block;
* **common subexpressions** — ``sympy.cse`` over all elementwise operations with the
  same axes at once, so that a difference the loss and δ¹ both use is computed once,
  into temporaries ``_t0, _t1, …`` numbered in a fixed order.

How each elementwise body then becomes ufunc calls that update one array in place
is decided while printing (:mod:`symbp.kernel.inplace`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.kernel.contract import broadcast_factors, contraction
from symbp.kernel.lower import Contract, Elementwise, Operation, Total
from symbp.symbolic.model import i

#: The vector of ones a blocked kernel sums over samples with: ``numpy.dot(delta2, ONES)`` is a BLAS
#: product, several times faster than ``delta2.sum(axis=0)`` for the kernels' shapes.
ONES = "_ones"


@dataclass(frozen=True)
class InPlaceUpdate:
    """``temporary += rest`` then ``target = temporary``: a new array from a contraction, updated where it is."""

    temporary: str
    rest: sp.Expr


@dataclass(frozen=True)
class Schedule:
    """One kernel body, scheduled: what the printer needs besides the operations themselves.

    Attributes:
        operations: the body's operations, in order.
        blocked: the body runs on one block of samples (sums over samples use :data:`ONES`).
        contractions: operation index → the NumPy code of that contraction.
        updates: operation index → its in-place update of a contraction's new array.
        bodies: operation index → the elementwise expression to print, after CSE.
        temporaries: each CSE temporary ``_tN`` → its definition.
        folded: each broadcast product that is not made → its factors (the reader multiplies by them in turn).
    """

    operations: tuple[Operation, ...]
    blocked: bool
    contractions: dict[int, str]
    updates: dict[int, InPlaceUpdate]
    bodies: dict[int, sp.Expr]
    temporaries: dict[sp.Symbol, sp.Expr]
    folded: dict[str, tuple[str, ...]]


def schedule(operations: tuple[Operation, ...], blocked: bool, unit_axes: frozenset = frozenset()) -> Schedule:
    """Run the three passes over one body's operations.

    Args:
        operations: from :func:`symbp.kernel.lower.lower`.
        blocked: the body handles one block of samples (the kernel adds up the blocks' results).
        unit_axes: axes of length 1 (the outputs when d = 1): a product summed over one of
            them is a broadcast product, not a matrix product.

    Example:
        >>> from symbp.kernel.lower import Elementwise, Operand
        >>> from symbp.symbolic.model import i, m
        >>> a = sp.IndexedBase("a")
        >>> op = Elementwise(Operand("h", (m, i)), 2 * a[m, i] - 2)
        >>> schedule((op,), blocked=False).bodies
        {0: 2*(a[m, i] - 1)}
    """
    if blocked:
        operations = sums_early(operations)
    contractions = {index: contraction(op, unit_axes, ONES if blocked else None) for index, op in enumerate(operations) if isinstance(op, Contract)}
    # A contraction that is more than a (transposed) name makes a new array, which may be updated in place.
    fresh = {operations[index].target.name for index, code in contractions.items() if not code.removesuffix(".T").isidentifier()}
    uses = _uses(operations)
    updates = {index: update for index, op in enumerate(operations) if isinstance(op, Elementwise) and (update := _in_place(op, uses, fresh))}
    bodies, temporaries = _shared_cse(operations, updates)
    folded = _folded(operations, uses, updates, unit_axes)
    return Schedule(operations, blocked, contractions, updates, bodies, temporaries, folded)


def sums_early(operations: tuple[Operation, ...]) -> tuple[Operation, ...]:
    """The operations with each sum over the samples moved up to just after the last operation that writes
    one of its operands (to the start, if none does), the others in their order.

    Only the order of independent operations changes, so the arrays are the same to the last bit.

    Example:
        >>> from symbp.kernel.lower import Operand
        >>> from symbp.symbolic.model import j, m
        >>> h = sp.IndexedBase("h")
        >>> ops = (Elementwise(Operand("delta2", (m, i)), 2 * h[m, i]), Elementwise(Operand("delta3", (j, i)), 3 * h[j, i]),
        ...        Contract(Operand("gW2", (m, j)), (Operand("delta2", (m, i)), Operand("h", (j, i))), (i,)))
        >>> [op.target.name for op in sums_early(ops)]
        ['delta2', 'gW2', 'delta3']
    """
    ordered: list[Operation] = []
    for op in operations:
        if _is_sum(op):
            reads = {operand.name for operand in op.operands}  # type: ignore[union-attr]
            position = max((k + 1 for k, earlier in enumerate(ordered) if _written(earlier) in reads), default=0)
            while position < len(ordered) and _is_sum(ordered[position]):  # after sums placed there before: sums keep their order
                position += 1
            ordered.insert(position, op)
        else:
            ordered.append(op)
    return tuple(ordered)


def _is_sum(op: Operation) -> bool:
    return isinstance(op, Contract) and i in op.summed and i not in op.target.axes


def _written(op: Operation) -> str:
    return op.target if isinstance(op, Total) else op.target.name


def _folded(operations: tuple[Operation, ...], uses: dict[str, int], updates: dict[int, InPlaceUpdate], unit_axes: frozenset) -> dict[str, tuple[str, ...]]:
    """The broadcast products (over an axis of length 1) read only as a factor of one elementwise
    product over the same axes: each → its factors, which that product multiplies by instead."""
    readers = {}
    for index, op in enumerate(operations):
        if isinstance(op, Elementwise) and index not in updates and isinstance(op.expr, sp.Mul):
            for factor in op.expr.args:
                if isinstance(factor, sp.Indexed) and tuple(factor.indices) == op.target.axes:
                    readers[str(factor.base.label)] = op
    folded = {}
    for op in operations:
        if isinstance(op, Contract) and uses.get(op.target.name) == 1 and op.target.name in readers:
            factors = broadcast_factors(op, unit_axes)
            if factors and readers[op.target.name].target.axes == op.target.axes:
                folded[op.target.name] = factors
    return folded


def _uses(operations: tuple[Operation, ...]) -> dict[str, int]:
    """How many operations read each array."""
    counts: dict[str, int] = {}
    for op in operations:
        if isinstance(op, Contract):
            names = [o.name for o in op.operands]
        else:
            names = [str(item.base.label) for item in op.expr.atoms(sp.Indexed)] + [str(s) for s in op.expr.free_symbols if isinstance(s, sp.Symbol)]
        for name in set(names):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _in_place(op: Elementwise, uses: dict[str, int], fresh: set[str]) -> InPlaceUpdate | None:
    """For ``target = _c + rest`` where the contraction result _c is read only here (a bias added to a
    matrix product): the update of _c in place.

    Products are left alone: measured on blocks of 2048 × 50, ``_c *= (1 - h**2)`` was slower than
    ``(1 - h**2)*_c``."""
    if not isinstance(op.expr, sp.Add):
        return None
    for arg in op.expr.args:
        name = str(arg.base.label) if isinstance(arg, sp.Indexed) else ""
        # Only a new array that nothing else reads may be updated in place (never an alias of an input).
        if name in fresh and uses.get(name) == 1 and tuple(arg.indices) == op.target.axes:
            return InPlaceUpdate(name, sp.Add(*(a for a in op.expr.args if a is not arg)))
    return None


def _canonical(op: Elementwise | Total, rest: sp.Expr | None = None) -> sp.Expr:
    """The expression to print for an elementwise operation, with common factors pulled out
    (2f − 2y → 2(f − y)) and a squared difference written with the sign that δ uses
    ((y − f)² → (f − y)²), so that CSE finds the difference both share."""
    expr = sp.factor_terms(op.expr if rest is None else rest)
    if isinstance(op, Total) and isinstance(expr, sp.Pow) and expr.exp == 2 and expr.base.could_extract_minus_sign():
        expr = sp.Pow(-expr.base, 2)
    return expr


def _shared_cse(operations: tuple[Operation, ...], updates: dict[int, InPlaceUpdate]) -> tuple[dict[int, sp.Expr], dict[sp.Symbol, sp.Expr]]:
    """CSE over all elementwise operations with the same axes at once.  Returns each operation's body
    and the temporaries' definitions, numbered _t0, _t1, … across the groups in order."""
    groups: dict[tuple[sp.Symbol, ...], list[int]] = {}
    for index, op in enumerate(operations):
        if not isinstance(op, Contract):
            groups.setdefault(op.target.axes if isinstance(op, Elementwise) else op.axes, []).append(index)
    temps = sp.numbered_symbols("_t")
    bodies: dict[int, sp.Expr] = {}
    temporaries: dict[sp.Symbol, sp.Expr] = {}
    for indices in groups.values():
        exprs = [_canonical(operations[index], updates[index].rest if index in updates else None) for index in indices]
        replacements, reduced = sp.cse(exprs, symbols=temps)
        temporaries.update(replacements)
        bodies.update(zip(indices, reduced))
    return bodies, temporaries
