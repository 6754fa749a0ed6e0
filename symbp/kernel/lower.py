"""Lowering: from index notation to array operations.

A stage of :func:`symbp.kernel.emit.render_kernel` (programs → **lowering** → scheduling → printing →
context → text).  The derivation states every quantity in index notation,
e.g. δ²_{im} = (Σ_k δ¹_{ik} W¹_{km}) σ′(a_{im}) or ∂R/∂W²_{mj} = Σ_i δ²_{im} x_{ij}.
Each statement becomes array operations over whole arrays:

* a sum over an index of a product of arrays becomes a :class:`Contract`
  (printed as a matrix product or ``einsum``);
* everything else is :class:`Elementwise` over the statement's indices (printed
  by SymPy's NumPy printer, with broadcasting).

Nothing here knows about tanh or about layers: the same rules lower any
statement the derivation produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.errors import InternalError
from symbp.kernel.programs import Blocks, KernelPrograms, Statement
from symbp.symbolic.model import UNIT_LETTERS, i, j, j_bound, k_norm

_UNITS = tuple(sp.Symbol(letter, integer=True, positive=True) for letter in UNIT_LETTERS)
_BOUND = tuple(sp.Symbol(letter + "'", integer=True, positive=True) for letter in UNIT_LETTERS)
#: The order of axes in the kernels' arrays: outputs, the hidden layers' units from the output
#: inwards, inputs, and the samples last.  With the samples along the rows, every elementwise
#: operation (a bias added, σ, a product with δ) runs over contiguous rows of n (or a block's)
#: numbers, also when a layer has a handful of units: on the diabetes network (n = 442, M = 8)
#: loss_and_grad took 35 µs this way against 41 µs with the samples first.
AXIS_ORDER = (*_UNITS, j, i)
#: Bound indices stand for the same axis as their free counterpart.
AXIS_OF = {i: i, j: j, j_bound: j, **dict(zip(_UNITS, _UNITS)), **dict(zip(_BOUND, _UNITS)), k_norm: _UNITS[0]}


#: The data arrays, stored as the user gives them: x as X (n, p) and y as Y (n, d), samples first.
#: Every other array (parameters, intermediates, δ, gradients) is stored in AXIS_ORDER.
DATA_ARRAYS = frozenset({"x", "y"})


def stored_axes(name: str, axes: tuple[sp.Symbol, ...]) -> tuple[sp.Symbol, ...]:
    """The axes of array ``name`` in the order its dimensions are stored, from the axes of a reference to it."""
    return axes if name in DATA_ARRAYS else _ordered(axes)


@dataclass(frozen=True)
class Operand:
    """An array taking part in an operation, and the axes its dimensions stand for."""

    name: str
    axes: tuple[sp.Symbol, ...]


@dataclass(frozen=True)
class Elementwise:
    """``target[axes] = expr`` where every Indexed in expr is an array over a subset of axes."""

    target: Operand
    expr: sp.Expr


@dataclass(frozen=True)
class Contract:
    """``target[axes] = Σ_{summed} Π operands``: a product of arrays summed over some axes."""

    target: Operand
    operands: tuple[Operand, ...]
    summed: tuple[sp.Symbol, ...]


@dataclass(frozen=True)
class Total:
    """``target = Σ over all axes of expr``: a scalar such as the loss R."""

    target: str
    expr: sp.Expr
    axes: tuple[sp.Symbol, ...]


Operation = Elementwise | Contract | Total


class Lowerer:
    """Turns statements into operations, naming the intermediate arrays ``_c0, _c1, …`` in order."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self.counter = 0

    def fresh(self) -> str:
        name = f"_c{self.counter}"
        self.counter += 1
        return name

    def statement(self, st: Statement) -> None:
        if st.total:
            self.total(st.name, st.expr)
            return
        expr = self.contractions(st.expr)
        self.operations.append(Elementwise(Operand(st.name, _ordered(axes_of(st.axes))), expr))

    def total(self, name: str, expr: sp.Expr) -> None:
        """A full sum Σ over every index of an elementwise body (the loss)."""
        if not isinstance(expr, sp.Sum):
            raise InternalError(f"a total must be a sum, got {expr}")
        body = self.contractions(expr.function)
        axes = axes_of(tuple(limit[0] for limit in expr.limits))
        self.operations.append(Total(name, body, _ordered(axes)))

    def contractions(self, expr: sp.Expr) -> sp.Expr:
        """Replace every Sum inside ``expr`` by a new array computed with a :class:`Contract`."""
        def lower_sum(total: sp.Sum) -> sp.Expr:
            summed = tuple(AXIS_OF[limit[0]] for limit in total.limits)
            body = self.contractions(total.function)
            free = _ordered(frozenset(free_axes(total)) - set(summed))
            groups: dict[tuple[sp.Symbol, ...], list[sp.Expr]] = {}
            operands: list[Operand] = []
            for factor in sp.Mul.make_args(body):
                if isinstance(factor, sp.Indexed) and all(ix in AXIS_OF for ix in factor.indices):
                    name = str(factor.base.label)
                    operands.append(Operand(name, stored_axes(name, tuple(AXIS_OF[ix] for ix in factor.indices))))
                else:
                    groups.setdefault(_ordered(frozenset(free_axes(factor))), []).append(factor)
            for axes, factors in groups.items():
                if axes == () and sp.Mul(*factors).is_number:
                    operands.append(Operand(str(sp.Mul(*factors)), ()))
                    continue
                temp = Operand(self.fresh(), axes)
                self.operations.append(Elementwise(temp, sp.Mul(*factors)))
                operands.append(temp)
            target = Operand(self.fresh(), free)
            self.operations.append(Contract(target, tuple(operands), summed))
            return sp.IndexedBase(target.name)[target.axes] if target.axes else sp.Symbol(target.name)

        return expr.replace(lambda e: isinstance(e, sp.Sum), lower_sum)


def axes_of(indices: tuple[sp.Symbol, ...]) -> tuple[sp.Symbol, ...]:
    return tuple(AXIS_OF[ix] for ix in indices)


def free_axes(expr: sp.Expr) -> set[sp.Symbol]:
    """The axes an expression varies over (free indices of its arrays, bound ones excluded)."""
    found: set[sp.Symbol] = set()
    for item in expr.atoms(sp.Indexed):
        found.update(AXIS_OF[ix] for ix in item.indices if ix in AXIS_OF)
    if isinstance(expr, sp.Sum):
        found -= {AXIS_OF[limit[0]] for limit in expr.limits}
    for inner in expr.atoms(sp.Sum):
        found -= {AXIS_OF[limit[0]] for limit in inner.limits} - _outside(expr, inner)
    return found


def _outside(expr: sp.Expr, inner: sp.Sum) -> set[sp.Symbol]:
    rest = expr.xreplace({inner: sp.Integer(1)})
    return {AXIS_OF[ix] for item in rest.atoms(sp.Indexed) for ix in item.indices if ix in AXIS_OF}


def _ordered(axes: frozenset[sp.Symbol] | set[sp.Symbol] | tuple[sp.Symbol, ...]) -> tuple[sp.Symbol, ...]:
    return tuple(ax for ax in AXIS_ORDER if ax in set(axes))


def lower(statements: list[Statement] | tuple[Statement, ...]) -> tuple[Operation, ...]:
    """Lower statements to array operations, in order.

    Example:
        >>> from symbp.spec.network import make_spec
        >>> from symbp.symbolic.model import build, m
        >>> model = build(make_spec(hidden=3))
        >>> hidden = model.layer(2)
        >>> ops = lower([Statement("a", (i, m), model.pre_def(hidden, i, m))])
        >>> [type(op).__name__ for op in ops]
        ['Contract', 'Elementwise']
    """
    lowerer = Lowerer()
    for st in statements:
        lowerer.statement(st)
    return _forward_copies(lowerer.operations)


def _forward_copies(operations: list[Operation]) -> tuple[Operation, ...]:
    """``gW1 = _c1`` right after ``_c1 = contraction``: give the contraction the name directly."""
    out: list[Operation] = []
    for op in operations:
        previous = out[-1] if out else None
        if (
            isinstance(op, Elementwise)
            and isinstance(previous, Contract)
            and isinstance(op.expr, sp.Indexed)
            and str(op.expr.base.label) == previous.target.name
            and op.target.axes == previous.target.axes
        ):
            out[-1] = Contract(op.target, previous.operands, previous.summed)
            continue
        out.append(op)
    return tuple(out)


LoweredKernel = Blocks[tuple[Operation, ...]]


def lower_kernel(programs: KernelPrograms) -> LoweredKernel:
    """Every kernel function's statements lowered to array operations (each body on its own: names restart at _c0)."""
    return programs.map(lambda statements, blocked: lower(statements))
