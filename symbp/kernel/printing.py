"""Printing: a scheduled kernel body as lines of NumPy code.

A stage of :func:`symbp.kernel.emit.render_kernel` (programs → lowering → scheduling → **printing** →
context → text).  Each operation of a :class:`~symbp.kernel.schedule.Schedule`
becomes assignment lines: a contraction as the code scheduling chose, an elementwise
operation through :class:`~symbp.kernel.printer.KernelPrinter` as an in-place chain
(:mod:`symbp.kernel.inplace`), each CSE temporary placed just before its first use.

With :class:`Buffers`, every array over the samples that a line makes (a matrix product, the
first ufunc of an in-place chain) is written into ``buffer(name, *sizes)`` instead, the array the
kernel keeps for that name in the thread that evaluates the block: a block's steps then allocate
nothing, and the next block and call find the memory mapped and warm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symbp.errors import InternalError
from symbp.kernel.inplace import Chain, ChainBuilder, chain_lines
from symbp.kernel.lower import Contract, Elementwise, Total
from symbp.kernel.printer import KernelPrinter
from symbp.kernel.schedule import ONES, Schedule
from symbp.symbolic.model import i

#: The kernel's module-level, read-only vector of BLOCK ones; a block's ONES is its first rows.
#: Slicing it takes 0.1 µs where ``numpy.ones(n)`` takes 0.9 µs, which counts when n is small.
ONES_OF_BLOCK = "_ONES"
#: The module constant of a float32 kernel naming its floating-point type (float64 kernels have none).
DTYPE_NAME = "DTYPE"


#: The name of the kernel's function that gives a block's kept arrays (``buffer("grad.delta2", M)``).
BUFFER = "buffer"
#: A matrix product (``W2 @ X.T``) or a broadcast product (``W1.T * delta1``) of two named arrays, as contraction prints them.
_PRODUCT = re.compile(r"^([\w.]+) ([@*]) ([\w.]+)$")


@dataclass(frozen=True)
class Buffers:
    """Where a body's arrays over the samples go: into the kernel's kept arrays.

    Attributes:
        sizes: each non-sample axis → the kernel's constant for its size (M, D, …); the samples are the last axis.
        scope: the body's name, prefixed to each array's name (the bodies number their arrays _c0, _t0, … each on its own).
    """

    sizes: dict[sp.Symbol, str]
    scope: str

    def out(self, target: str, axes: tuple[sp.Symbol, ...]) -> str | None:
        """``buffer("scope.target", sizes…)`` for an array over the samples, else None (a new array)."""
        if not axes or axes[-1] != i or any(axis not in self.sizes for axis in axes[:-1]):
            return None
        key = f'"{self.scope}.{target}"'  # both are identifiers: no quote to escape
        return f"{BUFFER}({', '.join([key] + [self.sizes[axis] for axis in axes[:-1]])})"


@dataclass(frozen=True)
class PrintedBlock:
    """The printed lines of one kernel function body, and what they used.

    Attributes:
        lines: the body's statements, one per line.
        setup: lines placed before the body of a blocked function (the block's vector of ones).
        modules: the modules the printer referenced (the kernel imports exactly these).
        uses_ones: the lines read :data:`ONES`, sliced from the kernel's :data:`ONES_OF_BLOCK`.
        functions: the kernel's own functions the lines call (``_tanh``, ``_logistic``: see
            :data:`symbp.kernel.printer.FUNCTIONS`), which the kernel defines.
    """

    lines: tuple[str, ...]
    setup: tuple[str, ...]
    modules: frozenset[str]
    uses_ones: bool
    functions: frozenset[str] = frozenset()


def print_schedule(scheduled: Schedule, buffers: Buffers | None = None, dtype: str | None = None) -> PrintedBlock:
    """Print a scheduled body as assignment lines (see the module docstring).

    Args:
        scheduled: the body, scheduled.
        buffers: where its arrays over the samples go; None: into new arrays.
        dtype: the kernel's constant for its floating-point type (:data:`DTYPE_NAME`), or None for NumPy's
            default float64: the type of the arrays the body makes itself (its ones).

    Example:
        >>> from symbp.kernel.lower import Elementwise, Operand
        >>> from symbp.kernel.schedule import schedule
        >>> from symbp.symbolic.model import m
        >>> a = sp.IndexedBase("a")
        >>> op = Elementwise(Operand("h", (m, i)), sp.tanh(a[m, i]))
        >>> print_schedule(schedule((op,), blocked=False)).lines
        ('h = _tanh(a)',)
    """
    return _BodyPrinter(scheduled, buffers, dtype).run()


class _BodyPrinter:
    """Prints one body, placing each temporary once, before the first line that reads it."""

    def __init__(self, scheduled: Schedule, buffers: Buffers | None = None, dtype: str | None = None) -> None:
        self.scheduled = scheduled
        self.buffers = buffers
        self.dtype = dtype
        self.printer = KernelPrinter(float_constants=dtype is not None)
        self.printer.folded = dict(scheduled.folded)
        self.lines: list[str] = []
        self.setup: list[str] = []
        self.placed: set[sp.Symbol] = set()
        self.temp_axes: dict[sp.Symbol, frozenset] = {}
        # Numbering of extra temporaries goes on after those of CSE.
        self.temps = sp.numbered_symbols("_t", start=len(scheduled.temporaries))

    def run(self) -> PrintedBlock:
        for index, op in enumerate(self.scheduled.operations):
            if isinstance(op, Contract) and op.target.name in self.scheduled.folded:
                continue  # not made: its reader multiplies by its factors
            if isinstance(op, Contract):
                self.contraction(op, self.scheduled.contractions[index])
            else:
                self.elementwise(index, op)
        modules = frozenset(self.printer.module_imports)
        return PrintedBlock(tuple(self.lines), tuple(self.setup), modules, bool(self.setup), frozenset(self.printer.functions))

    def contraction(self, op: Contract, code: str) -> None:
        if ONES in code and not self.setup:
            ones = self.printer._module_format("numpy.ones")
            typed = f", dtype={self.dtype}" if self.dtype else ""
            # BLOCK may have been raised after the module was imported; then the block needs its own ones.
            self.setup.append(
                f"{ONES} = {ONES_OF_BLOCK}[:X.shape[0]] if X.shape[0] <= {ONES_OF_BLOCK}.size else {ones}(X.shape[0]{typed})"
            )
        out = self.buffers.out(op.target.name, op.target.axes) if self.buffers else None
        product = _PRODUCT.match(code)
        if out and product:
            ufunc = self.printer._module_format("numpy.matmul" if product[2] == "@" else "numpy.multiply")
            code = f"{ufunc}({product[1]}, {product[3]}, out={out})"
        self.lines.append(f"{op.target.name} = {code}")

    def elementwise(self, index: int, op: Elementwise | Total) -> None:
        target = op.target.name if isinstance(op, Elementwise) else op.target
        axes = op.target.axes if isinstance(op, Elementwise) else op.axes
        if self.scheduled.blocked and isinstance(op, Elementwise) and i not in axes:
            raise InternalError(f"{target} is computed after a sum over samples; blocked kernels cannot place it")
        self.printer.target_axes = axes
        body = self.scheduled.bodies[index]
        self.place(body)
        if index in self.scheduled.updates:
            temporary = self.scheduled.updates[index].temporary
            self.lines.append(f"{temporary} += {self.printer.doprint(body)}")
            self.lines.append(f"{target} = {temporary}")
        elif isinstance(op, Total) and isinstance(body, sp.Pow) and body.exp == 2:
            # A sum of squares is the dot product of the array with itself: one pass instead of three.
            base = body.base
            if not isinstance(base, sp.Symbol):
                base = next(self.temps)
                self.lines.append(f"{base} = {self.printer.doprint(body.base)}")
            self.lines.append(f"{target} = float({self.printer._module_format('numpy.vdot')}({base}, {base}))")
        elif isinstance(op, Total):
            self.lines.append(f"{target} = float({self.printer._module_format('numpy.sum')}({self.printer.doprint(body)}))")
        else:
            self.assign(target, body, axes)

    def assign(self, target: str, expr: sp.Expr, axes: tuple[sp.Symbol, ...]) -> None:
        """``target = expr``, computed in place into one new array where that is safe: not for a
        scalar, and not for an update that reads its own target (gW1 = gW1 + 2λW1)."""
        chains = ChainBuilder(self.printer, axes, self.temp_axes)
        reads_target = target in {str(a.base.label) for a in expr.atoms(sp.Indexed)} | {str(a) for a in expr.free_symbols}
        in_place = bool(axes) and not reads_target and chains.is_full(expr)
        out = self.buffers.out(target, axes) if self.buffers and in_place else None
        self.lines.extend(chain_lines(target, chains.build(expr) if in_place else Chain(self.printer.doprint(expr)), out))

    def place(self, expr: sp.Expr) -> None:
        """Define the temporaries ``expr`` uses that are not defined yet, each after those it uses."""
        temporaries = self.scheduled.temporaries
        for temp in sorted(expr.free_symbols & temporaries.keys() - self.placed, key=lambda t: int(str(t)[2:])):
            self.place(temporaries[temp])
            if temp not in self.placed:
                self.temp_axes[temp] = ChainBuilder(self.printer, self.printer.target_axes, self.temp_axes).axes(temporaries[temp])
                self.assign(str(temp), temporaries[temp], self.printer.target_axes)
                self.placed.add(temp)
