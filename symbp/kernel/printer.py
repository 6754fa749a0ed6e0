"""symbp's NumPy printer: SymPy's ``NumPyPrinter`` with array references broadcast against a statement's axes.

:class:`KernelPrinter` overrides only what the kernels need: array references
with broadcasting (``delta1[:, None]``, ``W1.T``), ``numpy.maximum`` for Max,
``numpy.heaviside`` for the unit step, tanh and the logistic as the kernel's own
functions of NumPy's exp (:data:`FUNCTIONS`). It records the modules it used
(SymPy's printers do), from which the kernel's import block is built, and the
kernel functions it used, which the kernel then defines.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symbp.errors import InternalError
from symbp.kernel.lower import AXIS_OF, stored_axes

#: Names the arrays have in the kernels (the data are capitalised, X and Y).
ARRAY_NAMES = {"x": "X", "y": "Y"}

#: SymPy functions a kernel evaluates with a function of its own (defined in the kernel, from
#: ``numpy.exp`` and in-place passes, written to ``out``): on a CPU for which NumPy has no
#: vectorised float64 tanh, ``numpy.tanh`` takes 34 ns a number where ``_tanh`` takes 10 ns.
#: Their accuracy is stated in the kernel and tested in tests/kernel/test_functions.py.
FUNCTIONS = {"tanh": "_tanh", "Logistic": "_logistic"}


class KernelPrinter(NumPyPrinter):
    """SymPy's NumPy printer, with array references broadcast against the statement's axes."""

    def __init__(self, float_constants: bool = False) -> None:
        """Args:
            float_constants: print a constant such as √2 as a Python float literal, not ``numpy.sqrt(2)``: a float32
                kernel's arrays stay float32 with a Python float (NumPy's NEP 50), not with a NumPy float64 scalar.
        """
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self.target_axes: tuple[sp.Symbol, ...] = ()
        #: broadcast products that are not made as arrays (see symbp.kernel.schedule) → their factors
        self.folded: dict[str, tuple[str, ...]] = {}
        self.float_constants = float_constants
        #: the kernel functions (values of :data:`FUNCTIONS`) printed so far
        self.functions: set[str] = set()

    def kernel_function(self, expr: sp.Basic) -> str | None:
        """The kernel's own function for ``expr`` (a call of one argument), recorded as used; None if NumPy's is printed."""
        name = FUNCTIONS.get(type(expr).__name__) if isinstance(expr, sp.Function) and len(expr.args) == 1 else None
        if name is not None:
            self.functions.add(name)
        return name

    def _print(self, expr: object, **kwargs: object) -> str:
        if self.float_constants and _irrational_constant(expr):
            return repr(float(expr))  # type: ignore[arg-type]
        return super()._print(expr, **kwargs)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)
        if label in self.folded:  # read other than as a factor of an in-place product: the product, inline
            return "(" + " * ".join(self.folded[label]) + ")"
        axes = stored_axes(label, tuple(_axis(ix) for ix in expr.indices))
        return broadcast(ARRAY_NAMES.get(label, label), axes, self.target_axes)

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        # The step is 0 at 0, as the LaTeX's 1[u > 0] says (and as relu′(0) is taken in practice).
        return f"{self._module_format('numpy.heaviside')}({self._print(expr.args[0])}, 0.0)"

    def _print_kernel_function(self, expr: sp.Function) -> str:
        # tanh and the logistic: the kernel's _tanh and _logistic, which cannot overflow (see FUNCTIONS).
        return f"{self.kernel_function(expr)}({self._print(expr.args[0])})"

    _print_tanh = _print_Logistic = _print_kernel_function

    def _print_LogSumExp(self, expr: sp.Function) -> str:
        # logaddexp folded over the index: log Σ e^w without overflow, whatever the size of w.
        w, index = expr.args
        if not isinstance(w, sp.Indexed):
            raise InternalError(f"a log-sum-exp of {w}: only of an array is printed")
        label = str(w.base.label)
        axes = stored_axes(label, tuple(_axis(ix) for ix in w.indices))
        reduced = _axis(index)
        kept = tuple(ax for ax in axes if ax != reduced)
        name = ARRAY_NAMES.get(label, label)
        folded = f"{self._module_format('numpy.logaddexp')}.reduce({name}, axis={axes.index(reduced)})"
        return broadcast(folded, kept, self.target_axes) if kept != self.target_axes else folded

    def _print_Max(self, expr: sp.Max) -> str:
        return self._nested("numpy.maximum", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:
        return self._nested("numpy.minimum", expr.args)

    def _nested(self, function: str, args: tuple[sp.Expr, ...]) -> str:
        printed = self._print(args[0])
        for arg in args[1:]:
            printed = f"{self._module_format(function)}({printed}, {self._print(arg)})"
        return printed


def _irrational_constant(expr: object) -> bool:
    """A real number that is not a rational, a float or π (which print as Python numbers already): √2, e, log(2) …"""
    return (
        isinstance(expr, sp.Expr) and expr.is_number and expr.is_real is True
        and not isinstance(expr, (sp.Rational, sp.Float, sp.NumberSymbol))
    )


def _axis(index: sp.Expr) -> sp.Symbol:
    if index not in AXIS_OF:
        raise InternalError(f"index {index} has no axis")
    return AXIS_OF[index]


def broadcast(name: str, axes: tuple[sp.Symbol, ...], target: tuple[sp.Symbol, ...]) -> str:
    """``name`` indexed so that its axes line up with ``target`` (e.g. ``b2`` or ``delta1[:, None]``)."""
    if axes == target or not axes:
        return name
    positions = [target.index(ax) for ax in axes if ax in target]
    if len(positions) != len(axes):
        raise InternalError(f"array {name}{axes} does not fit a statement over {target}")
    if positions != sorted(positions):
        if len(axes) == 2:
            return broadcast(f"{name}.T", axes[::-1], target)
        raise InternalError(f"array {name}{axes} is stored in another axis order than {target}")
    first = positions[0]
    parts = [":" if ax in axes else "None" for ax in target[first:]]
    if all(p == ":" for p in parts):
        return name
    return f"{name}[{', '.join(parts)}]"
