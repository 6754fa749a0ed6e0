"""The choice of NumPy call for each contraction: a product of arrays summed over some axes.

A scheduling decision made once per :class:`~symbp.kernel.lower.Contract`:
``A @ B`` for a matrix product, ``numpy.dot(A, B)`` for a gradient's sum over the
samples, ``numpy.dot(A, ones)`` for a sum over the samples of one array in a
blocked kernel, ``A * B`` for an outer product over an axis of length 1, and
``numpy.einsum`` for anything else.
"""

from __future__ import annotations

import sympy as sp

from symbp.kernel.lower import AXIS_ORDER, Contract, Operand
from symbp.kernel.printer import ARRAY_NAMES
from symbp.symbolic.model import i

#: The index letter of each axis in an einsum specification.
LETTERS = {axis: str(axis) for axis in AXIS_ORDER}


def contraction(op: Contract, unit_axes: frozenset = frozenset(), ones: str | None = None) -> str:
    """A product of arrays summed over some axes, as ``A @ B`` (``numpy.dot(A, B)`` for a sum over the
    samples), ``A.sum(axis=0)`` or ``numpy.einsum``.

    With ``ones`` (the name of a vector of ones over the samples), a sum over the samples
    of one array is printed as ``numpy.dot(A, ones)``."""
    operands = [o for o in op.operands if o.axes or not _is_number(o.name)]
    scale = [o.name for o in op.operands if not o.axes and _is_number(o.name)]
    code = (
        _matmul(operands, op.summed, op.target.axes, unit_axes)
        or _reduce(operands, op.summed, op.target.axes, ones)
        or _einsum(operands, op.target.axes)
    )
    return " * ".join(scale + [code]) if scale else code


def broadcast_factors(op: Contract, unit_axes: frozenset = frozenset()) -> tuple[str, ...] | None:
    """The factors of a product summed over an axis of length 1 (``W1.T``, ``delta1`` for W¹ᵀδ¹ when d = 1),
    each broadcast against the target's axes, or None when ``op`` is another contraction.

    Their product is what :func:`contraction` prints; an elementwise step that multiplies by it can
    multiply by the factors one after the other instead, so that the product is never an array of its own.

    Example:
        >>> from symbp.symbolic.model import i, k, m
        >>> op = Contract(Operand("_c0", (m, i)), (Operand("W1", (k, m)), Operand("delta1", (k, i))), (k,))
        >>> broadcast_factors(op, frozenset({k}))
        ('W1.T', 'delta1')
    """
    operands = [o for o in op.operands if o.axes or not _is_number(o.name)]
    scale = tuple(o.name for o in op.operands if not o.axes and _is_number(o.name))
    if len(op.summed) != 1 or op.summed[0] not in unit_axes:
        return None
    code = _matmul(operands, op.summed, op.target.axes, unit_axes)
    return scale + tuple(code.split(" * ")) if code else None


def _is_number(name: str) -> bool:
    try:
        float(sp.sympify(name))
        return True
    except (TypeError, ValueError, sp.SympifyError):
        return False


def _name(operand: Operand) -> str:
    return ARRAY_NAMES.get(operand.name, operand.name)


def _matmul(operands: list[Operand], summed: tuple[sp.Symbol, ...], out: tuple[sp.Symbol, ...], unit_axes: frozenset = frozenset()) -> str | None:
    if len(operands) != 2 or len(summed) != 1:
        return None
    (s,) = summed
    for left, right in (operands, operands[::-1]):
        if len(left.axes) > 2 or len(right.axes) > 2 or s not in left.axes or s not in right.axes:
            continue
        left_free = tuple(ax for ax in left.axes if ax != s)
        right_free = tuple(ax for ax in right.axes if ax != s)
        if left_free + right_free != out:
            continue
        lhs = _name(left) if left.axes[-1] == s else f"{_name(left)}.T"
        rhs = _name(right) if right.axes[0] == s else f"{_name(right)}.T"
        if s in unit_axes:
            return f"{lhs} * {rhs}"  # (M, 1) @ (1, n) is an outer product: broadcasting is cheaper than a matrix product
        return _product(lhs, rhs, s)
    return None


def _product(lhs: str, rhs: str, summed: sp.Symbol) -> str:
    """The matrix product ``lhs @ rhs``; a sum over the samples (a gradient's sum) as ``numpy.dot``.

    ``numpy.dot`` calls BLAS with 0.3–0.4 µs less overhead than ``@`` (measured at n = 442 to 1 000),
    which counts when n is small, and is as fast at large n for these products, whose result is
    small.  A product that keeps the samples axis (W² Xᵀ, M × n) stays ``@``: there ``numpy.dot``
    was slower at large n (0.93 against 0.67 ms at (8 192, 50, 50))."""
    return f"numpy.dot({lhs}, {rhs})" if summed == i else f"{lhs} @ {rhs}"


def _reduce(operands: list[Operand], summed: tuple[sp.Symbol, ...], out: tuple[sp.Symbol, ...], ones: str | None = None) -> str | None:
    if len(operands) != 1:
        return None
    (only,) = operands
    kept = tuple(ax for ax in only.axes if ax not in summed)
    if kept != out:
        return None
    if not summed:
        return _name(only)
    if ones is not None and summed == (i,) and only.axes[-1] == i:
        return _product(_name(only), ones, i)
    axis = tuple(only.axes.index(ax) for ax in summed)
    return f"{_name(only)}.sum(axis={axis[0] if len(axis) == 1 else axis})"


def _einsum(operands: list[Operand], out: tuple[sp.Symbol, ...]) -> str:
    spec = ",".join("".join(LETTERS[ax] for ax in o.axes) for o in operands) + "->" + "".join(LETTERS[ax] for ax in out)
    return f"numpy.einsum({spec!r}, {', '.join(_name(o) for o in operands)}, optimize=True)"
