"""The matrix view evaluated with NumPy, statement by statement: an independent check of the derivation.

The tests compare the gradients computed here from the matrix expressions of
:func:`symbp.symbolic.matrix.matrix_form` with the component form, the kernels
and finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

import numpy as np
import sympy as sp
from sympy.core.function import Application
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbp.errors import InternalError
from symbp.spec.functions import SOFTMAX, X
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.matrix import MatrixForm, Part, matrix_form
from symbp.symbolic.model import n

def _softmax_rows(Z: np.ndarray) -> np.ndarray:
    """Each row's e^{z} / Σ e^{z}, shifted by its largest entry so that nothing overflows."""
    shifted = np.exp(Z - Z.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class MatrixEvaluator:
    """Walks a matrix expression and computes it with NumPy."""

    def __init__(self, env: dict[str, np.ndarray], dims: dict[sp.Expr, int], form: MatrixForm) -> None:
        self.env, self.dims, self.form = env, dims, form
        self.compiled: dict[sp.Lambda, Callable[[np.ndarray], np.ndarray]] = {}

    def scalar(self, expr: sp.Expr) -> float:
        # The sizes too: the mean's 1/n is a scalar factor of Δ¹.
        return float(sp.sympify(expr).xreplace(self.form.constants).xreplace(self.dims))

    def dim(self, size: sp.Expr) -> int:
        return int(sp.sympify(size).xreplace(self.dims))

    def function(self, function: sp.Lambda) -> Callable[[np.ndarray], np.ndarray]:
        """The entrywise function as NumPy code, with the spec's σ, g, σ′, g′ put in for the abstract ones."""
        if function not in self.compiled:
            table = self.form.functions
            body = function.expr.replace(lambda e: isinstance(e, Application) and e.func in table, lambda e: table[e.func](*e.args))
            if body == SOFTMAX.expr.xreplace({X: function.variables[0]}):
                self.compiled[function] = _softmax_rows  # F = softmax(Z) row by row: one sample per row
            else:
                self.compiled[function] = sp.lambdify(function.variables, body, modules="numpy")
        return self.compiled[function]

    def value(self, expr: MatrixExpr) -> np.ndarray:
        if isinstance(expr, MatrixSymbol):
            return self.env[expr.name]
        if isinstance(expr, Transpose):
            return self.value(expr.arg).T
        if isinstance(expr, OneMatrix):
            return np.ones((self.dim(expr.shape[0]), self.dim(expr.shape[1])))
        if isinstance(expr, MatMul):
            coefficient, matrices = expr.as_coeff_matrices()
            return self.scalar(coefficient) * reduce(np.matmul, (self.value(m) for m in matrices))
        if isinstance(expr, MatAdd):
            return reduce(np.add, (self.value(t) for t in expr.args))
        if isinstance(expr, HadamardProduct):
            return reduce(np.multiply, (self.value(f) for f in expr.args))
        if isinstance(expr, HadamardPower):
            return self.value(expr.base) ** self.scalar(expr.exp)
        if isinstance(expr, ElementwiseApplyFunction):
            argument = self.value(expr.expr)
            return np.broadcast_to(self.function(expr.function)(argument), argument.shape).astype(float)
        raise InternalError(f"no numeric evaluation of {type(expr).__name__}")


def evaluate(derivation: Derivation, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, form: MatrixForm | None = None) -> dict[str, np.ndarray]:
    """The gradient of R computed from the matrix form with NumPy, statement by statement.

    Args:
        derivation: what :func:`symbp.derive` returned.
        params: W1 (d, M), b1 (d,), W2, b2, … as NumPy arrays.
        X: the inputs, (n, p).
        y: the targets, (n,) or (n, d).
        form: the matrix form to evaluate; default :func:`matrix_form` of the derivation.

    Returns:
        ``{"W1": ∇_{W¹}R, "b1": ∇_{b¹}R, …}``, each shaped like its parameter.

    Example:
        >>> import symbp
        >>> from symbp.testing import random_problem
        >>> d = symbp.derive(hidden=3, inputs=2)
        >>> sorted(evaluate(d, *random_problem(d)))
        ['W1', 'W2', 'b1', 'b2']
    """
    form = form or matrix_form(derivation)
    model = derivation.model
    X = np.asarray(X, dtype=float)
    Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    env = {"X": X, "Y": Y}
    dims: dict[sp.Expr, int] = {n: X.shape[0], model.layers[-1].size: X.shape[1]}
    for layer in model.parameter_layers:
        W, b = (np.asarray(params[name], dtype=float) for name in layer.parameter_names)
        env[f"W{layer.number}"], env[f"b{layer.number}"] = W, b.reshape(-1, 1)
        dims[layer.size] = W.shape[0]
    evaluator = MatrixEvaluator(env, dims, form)
    gradients: dict[str, np.ndarray] = {}
    for statement in form.statements:
        value = evaluator.value(statement.rhs)
        expected = tuple(evaluator.dim(s) for s in statement.lhs.shape)
        if value.shape != expected:
            raise InternalError(f"the matrix form of {statement.lhs} evaluated to shape {value.shape}, not {expected}")
        if statement.part is Part.GRADIENT:
            gradients[statement.lhs.name] = value.reshape(np.shape(params[statement.lhs.name]))
        else:
            env[statement.lhs.name] = value
    return gradients
