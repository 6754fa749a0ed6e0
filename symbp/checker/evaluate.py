"""Expressions in index notation evaluated in NumPy, for every component of a parameter and many points at once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import lru_cache, reduce

import numpy as np
import sympy as sp

from symbp.errors import InternalError
from symbp.symbolic.model import LAMBDA

#: SymPy functions a formula or a derived gradient may contain, as NumPy ufuncs.
UFUNCS: dict[type, Callable[..., np.ndarray]] = {
    sp.exp: np.exp,
    sp.log: np.log,
    sp.tanh: np.tanh,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.atan: np.arctan,
    sp.Abs: np.abs,
    sp.sign: np.sign,
    sp.Heaviside: lambda u, *_: np.heaviside(u, 0.5),
    sp.Max: lambda *args: reduce(np.maximum, args),
    sp.Min: lambda *args: reduce(np.minimum, args),
}


class IndexNotationEvaluator:
    """Evaluates an expression in index notation for many components and points at once.

    Every array has a leading axis of points; the free indices of the component
    are integer arrays (one entry per component), so that each value is an
    array of points × components.  Sums are loops over their indices.

    Args:
        arrays: every array of the notation by name (the forward pass included), points first.
        sizes: the size symbols (n, p, M, …, d) → numbers.
        env: each free index of the component → its value in every component (1-based).
        symbols: the values of other symbols (λ).

    Example:
        >>> from symbp.symbolic.model import h, i, m, n
        >>> arrays = {"h": np.arange(6.0).reshape(1, 3, 2)}  # one point, n = 3, M = 2
        >>> evaluate = IndexNotationEvaluator(arrays, {n: 3}, {m: np.array([1, 2])}, {})
        >>> evaluate(sp.Sum(h[i, m], (i, 1, n)))
        array([[6., 9.]])
    """

    def __init__(self, arrays: dict[str, np.ndarray], sizes: dict[sp.Symbol, int], env: dict[sp.Symbol, np.ndarray], symbols: dict[sp.Symbol, float]) -> None:
        self.arrays = arrays
        self.sizes = sizes
        self.env = env
        self.symbols = symbols
        points = next(iter(arrays.values())).shape[0]
        self.shape = (points, len(next(iter(env.values()))) if env else 1)

    def __call__(self, expr: sp.Expr) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(self.value(expr, self.env), dtype=float), self.shape)

    def value(self, expr: sp.Expr, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray | float:
        """The value of ``expr`` with the indices in ``env`` bound."""
        if expr.is_Number or isinstance(expr, sp.NumberSymbol):
            try:
                return float(expr)
            except OverflowError:
                return math.inf if expr > 0 else -math.inf
        if isinstance(expr, sp.Symbol):
            if expr in self.sizes:  # n, the mean's divisor
                return float(self.sizes[expr])
            if expr not in self.symbols:
                raise InternalError(f"no value for the symbol {expr} in a formula")
            return self.symbols[expr]
        if isinstance(expr, sp.Indexed):
            array = self.arrays[str(expr.base.label)]
            return array[(slice(None), *(env[ix] - 1 for ix in expr.indices))]
        if isinstance(expr, sp.Sum):
            return self.sum(expr, env)
        if not isinstance(expr, (sp.Add, sp.Mul, sp.Pow)) and expr.func not in UFUNCS and not expr.has(sp.Sum):
            return self.compiled(expr, env)
        args = [self.value(arg, env) for arg in expr.args]
        if isinstance(expr, sp.Add):
            return reduce(np.add, args)
        if isinstance(expr, sp.Mul):
            return reduce(np.multiply, args)
        if isinstance(expr, sp.Pow):
            return np.power(args[0], args[1])
        if expr.func in UFUNCS:
            return UFUNCS[expr.func](*args)
        return _compiled_function(expr.func, len(args))(*args)

    def sum(self, expr: sp.Sum, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray | float:
        """A sum, as a loop over the values of its indices."""
        variables = [limit[0] for limit in expr.limits]
        ranges = [range(_size(lo, self.sizes), _size(hi, self.sizes) + 1) for _, lo, hi in expr.limits]
        width = self.shape[1]
        total: np.ndarray | float = 0.0
        for values in itertools.product(*ranges):
            inner = env | {v: np.full(width, value) for v, value in zip(variables, values, strict=True)}
            total = total + self.value(expr.function, inner)
        return total

    def compiled(self, expr: sp.Expr, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray | float:
        """A subexpression without sums that is not built from the usual functions (a Piecewise, …), through lambdify."""
        function, atoms = _compiled_expression(expr)
        return function(*(self.value(atom, env) for atom in atoms))


def _size(bound: sp.Expr, sizes: dict[sp.Symbol, int]) -> int:
    return int(bound.xreplace(sizes))


@lru_cache(maxsize=64)
def _compiled_function(func: type, count: int) -> Callable[..., np.ndarray]:
    """Any other function of sums SymPy may produce (erf, …), through lambdify."""
    dummies = sp.symbols(f"_u0:{count}", real=True)
    return sp.lambdify(dummies, func(*dummies), "numpy")


@lru_cache(maxsize=256)
def _compiled_expression(expr: sp.Expr) -> tuple[Callable[..., np.ndarray], tuple[sp.Expr, ...]]:
    """A subexpression without sums as a function of its arrays (and λ), through lambdify."""
    atoms = tuple(sorted(expr.atoms(sp.Indexed), key=str)) + ((LAMBDA,) if expr.has(LAMBDA) else ())
    dummies = sp.symbols(f"_u0:{len(atoms)}", real=True)
    return sp.lambdify(dummies, expr.xreplace(dict(zip(atoms, dummies, strict=True))), "numpy"), atoms
