"""The matrix view: the derivation's statements as products of whole matrices.

A stage beside the LaTeX printer (… → derivation → **matrix view** → printing →
rendering).  The samples are stacked as rows (X is n × p; A^l, H^l, Δ^l are
n × M_l; Z, F, Y are n × d), and every statement the derivation makes in index
notation — the forward pass, the errors δ^l and the gradients in their
backpropagation form — is translated into a SymPy matrix expression by three rules:

* a sum over one index of a product of two arrays is a matrix product, with
  transposes that line up the summed axis: Σ_{j'} W²_{mj'} x_{ij'} → X (W²)ᵀ,
  Σ_i δ²_{im} x_{ij} → (Δ²)ᵀ X, Σ_{k'} δ¹_{ik'} W¹_{k'm} → Δ¹ W¹;
* a sum over one index of a single array is a product with a vector of ones,
  Σ_i δ_{im} → Δᵀ 1_n, and a bias added to every sample is 1_n bᵀ;
* everything else is entry by entry: ⊙ for products, a function applied to
  each entry (σ, σ′, the unit step) for the rest.

Nothing here knows about tanh or about a particular depth.
:func:`symbp.latex.matrix.matrix_lines` prints the result as LaTeX;
:func:`symbp.symbolic.matrix_numpy.evaluate` computes the gradients from the same
matrix expressions with NumPy, so that the tests can check the matrix form
against the component form and against finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import sympy as sp
from sympy.core.function import Application
from sympy.matrices.expressions import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbp.errors import InternalError
from symbp.spec.functions import X as VARIABLE
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.model import LAMBDA, Layer, Model, i, n, penalty_weight, y

#: Axes of a matrix: what its rows and its columns run over (None: a single row or column).
Axes = tuple[sp.Symbol | None, sp.Symbol | None]


class Part(Enum):
    """Where a statement of the matrix form belongs."""

    FORWARD = "forward"
    BACKWARD = "backward"
    GRADIENT = "gradient"


@dataclass(frozen=True)
class MatrixStatement:
    """``lhs = rhs`` in matrix form; for a gradient, ``lhs`` is the parameter and the statement reads ∇_{lhs} R = rhs.

    ``written_out`` is the same right-hand side with σ or g replaced by its formula, applied entry by entry (tanh(A), Z).
    """

    part: Part
    lhs: MatrixSymbol
    rhs: MatrixExpr
    written_out: MatrixExpr | None = None


@dataclass(frozen=True)
class MatrixForm:
    """The whole matrix form of a derivation, with what it takes to evaluate it.

    Attributes:
        statements: forward pass (first hidden layer first), Δ¹, Δ², …, then ∇_{W¹}R, ∇_{b¹}R, ….
        functions: each abstract σ_l, g, σ_l′, g′ → ``Lambda(x, the spec's formula)``.
        constants: λ → the spec's number.
    """

    statements: tuple[MatrixStatement, ...]
    functions: dict[sp.FunctionClass, sp.Lambda]
    constants: dict[sp.Symbol, sp.Expr]


def _reads_well(expr: sp.Expr) -> bool:
    """A formula worth writing out on matrices: a polynomial in x, or one function of x (tanh x, max(0, x), 𝟙[x > 0])."""
    if expr.is_polynomial(VARIABLE):
        return True
    return isinstance(expr, Application) and VARIABLE in expr.args and all(a == VARIABLE or a.is_number for a in expr.args)


def scale(coefficient: sp.Expr, matrix: MatrixExpr) -> MatrixExpr:
    """coefficient · matrix, with the coefficients of a product merged."""
    if coefficient == 1:
        return matrix
    if isinstance(matrix, MatMul):
        inner, factors = matrix.as_coeff_matrices()
        coefficient *= inner
        if coefficient == 1:
            return factors[0] if len(factors) == 1 else MatMul(*factors)
        return MatMul(coefficient, *factors)
    return MatMul(coefficient, matrix)


def _transpose(matrix: MatrixExpr) -> MatrixExpr:
    return matrix.arg if isinstance(matrix, Transpose) else Transpose(matrix)


def _hadamard(matrices: list[MatrixExpr]) -> MatrixExpr:
    flat = [f for m in matrices for f in (m.args if isinstance(m, HadamardProduct) else (m,))]
    return flat[0] if len(flat) == 1 else HadamardProduct(*flat)


class _Translator:
    """Index notation → matrix expressions, for the arrays of one model."""

    def __init__(self, model: Model) -> None:
        self.axis: dict[sp.Symbol, sp.Symbol] = {i: i}
        self.size: dict[sp.Symbol | None, sp.Expr] = {i: n, None: sp.Integer(1)}
        self.arrays: dict[sp.IndexedBase, tuple[MatrixSymbol, Axes]] = {}
        for layer in model.layers:
            self.axis[layer.unit] = self.axis[layer.bound] = layer.unit
            self.size[layer.unit] = layer.size
            for base in (layer.pre, layer.post):
                label = str(base.label)
                self.arrays[base] = (MatrixSymbol(label[0].upper() + label[1:], n, layer.size), (i, layer.unit))
            if not layer.is_input:
                below = model.below(layer)
                number = layer.number
                self.arrays[layer.W] = (MatrixSymbol(f"W{number}", layer.size, below.size), (layer.unit, below.unit))
                self.arrays[layer.b] = (MatrixSymbol(f"b{number}", layer.size, 1), (layer.unit, None))
                self.arrays[layer.delta] = (MatrixSymbol(f"Delta{number}", n, layer.size), (i, layer.unit))
        output = model.layers[0]
        self.arrays[y] = (MatrixSymbol("Y", n, output.size), (i, output.unit))
        #: The arrays that carry the error backwards: y and every δ^l.
        self.errors = {y, *(layer.delta for layer in model.parameter_layers)}

    def symbol(self, base: sp.IndexedBase) -> MatrixSymbol:
        return self.arrays[base][0]

    def target(self, indices: tuple[sp.Expr, ...]) -> Axes:
        axes = tuple(self.axis[ix] for ix in indices)
        return (axes + (None, None))[:2]

    def axes_of(self, expr: sp.Expr) -> frozenset[sp.Symbol]:
        return frozenset(self.axis[ix] for item in expr.atoms(sp.Indexed) for ix in item.indices)

    def shape(self, axes: Axes) -> tuple[sp.Expr, sp.Expr]:
        return self.size[axes[0]], self.size[axes[1]]

    def matrix(self, expr: sp.Expr, target: Axes) -> MatrixExpr | sp.Expr:
        """``expr`` as a matrix whose rows and columns run over ``target``; a scalar stays a scalar."""
        if not expr.has(sp.Indexed):
            return expr
        if isinstance(expr, sp.Indexed):
            if expr.base not in self.arrays:
                raise InternalError(f"the array {expr.base} has no matrix")
            return self.orient(*self.arrays[expr.base], target)
        if isinstance(expr, sp.Sum):
            return self.orient(*self.contract(expr, target), target)
        if isinstance(expr, sp.Add):
            return self.add(expr, target)
        if isinstance(expr, sp.Mul):
            return self.product(list(sp.Mul.make_args(expr)), target)
        if isinstance(expr, sp.Pow) and expr.exp.is_Integer and 1 < expr.exp <= 3:
            return _hadamard([self.matrix(expr.base, target)] * int(expr.exp))
        return self.entrywise(expr, target)

    def orient(self, matrix: MatrixExpr, axes: Axes, target: Axes) -> MatrixExpr:
        """Transpose or broadcast (1_n bᵀ) ``matrix`` over ``axes`` so that it runs over ``target``."""
        if axes == target:
            return matrix
        if axes == target[::-1]:
            return _transpose(matrix)
        present = [ax for ax in axes if ax is not None]
        if len(present) == 1 and None not in target and present[0] in target:
            (unit,) = present
            if unit == target[1]:
                return MatMul(OneMatrix(self.size[target[0]], 1), self.orient(matrix, axes, (None, unit)))
            return MatMul(self.orient(matrix, axes, (unit, None)), OneMatrix(1, self.size[target[1]]))
        raise InternalError(f"a matrix over {axes} cannot stand for one over {target}")

    def add(self, expr: sp.Add, target: Axes) -> MatrixExpr:
        coefficient, rest = expr.primitive()
        if coefficient != 1 and isinstance(rest, sp.Add):
            return scale(coefficient, self.add(rest, target))  # 2f − 2y → 2 (F − Y)
        # The products (X (W²)ᵀ) before the broadcast biases (1_n (b²)ᵀ), the constants last.
        terms = [self.matrix(term, target) for term in sorted(expr.args, key=lambda t: -len(self.axes_of(t)))]
        ones = OneMatrix(*self.shape(target))
        return MatAdd(*(t if isinstance(t, MatrixExpr) else scale(t, ones) for t in terms))

    def product(self, factors: list[sp.Expr], target: Axes) -> MatrixExpr:
        """An entrywise product; the factors that carry the error (y, δ, a backpropagated sum) come first."""
        coefficient = sp.Mul(*(f for f in factors if not f.has(sp.Indexed)))
        arrays = [f for f in factors if f.has(sp.Indexed)]

        def carries_error(f: sp.Expr) -> bool:
            return f.has(sp.Sum) or any(item.base in self.errors for item in f.atoms(sp.Indexed))

        arrays.sort(key=lambda f: (not carries_error(f), isinstance(f, sp.Add)))
        matrices = [self.matrix(f, target) for f in arrays]
        matrices[0] = scale(coefficient, matrices[0])
        return _hadamard(matrices)

    def contract(self, total: sp.Sum, target: Axes) -> tuple[MatrixExpr, Axes]:
        """Σ_s of a product: M 1 for one array over (s, u), a matrix product for two arrays over (u, s) and (s, v)."""
        if len(total.limits) != 1:
            raise InternalError(f"a sum over several indices has no matrix form here: {total}")
        summed = self.axis[total.limits[0][0]]
        coefficient = sp.Integer(1)
        groups: dict[frozenset[sp.Symbol], list[sp.Expr]] = {}
        for factor in sp.Mul.make_args(total.function):
            if not factor.has(sp.Indexed):
                coefficient *= factor
            elif factor.has(sp.Sum):
                raise InternalError(f"nested sums have no matrix form here: {total}")
            else:
                groups.setdefault(self.axes_of(factor), []).append(factor)
        keys = list(groups)
        if len(keys) == 1 and summed in keys[0] and len(keys[0]) == 2:
            (unit,) = keys[0] - {summed}
            ones = OneMatrix(self.size[summed], 1)
            return scale(coefficient, MatMul(self.product(groups[keys[0]], (unit, summed)), ones)), (unit, None)
        if len(keys) == 2 and all(summed in key and len(key) == 2 for key in keys):
            free = [next(iter(key - {summed})) for key in keys]
            if free[0] != free[1]:
                if free[1] == target[0] or free[0] == target[1]:
                    keys, free = keys[::-1], free[::-1]
                left = self.product(groups[keys[0]], (free[0], summed))
                right = self.product(groups[keys[1]], (summed, free[1]))
                return scale(coefficient, MatMul(left, right)), (free[0], free[1])
        raise InternalError(f"no matrix product found for {total}")

    def entrywise(self, expr: sp.Expr, target: Axes) -> MatrixExpr:
        """A function of one array applied to each entry: σ(A), 𝟙[A > 0], 1/(1 + e^{−A}), …"""
        if expr.has(sp.Sum):
            raise InternalError(f"a function of a sum has no matrix form here: {expr}")
        entry = sp.Dummy("e", real=True)
        items = expr.atoms(sp.Indexed)
        if len(items) == 1:
            (item,) = items
            return ElementwiseApplyFunction(sp.Lambda(entry, expr.xreplace({item: entry})), self.matrix(item, target))
        if isinstance(expr, Application) and len(expr.args) == 1:
            return ElementwiseApplyFunction(sp.Lambda(entry, expr.func(entry)), self.matrix(expr.args[0], target))
        raise InternalError(f"{expr} is no function of one array")


def _named_derivative(derivation: Derivation, layer: Layer) -> sp.Expr:
    """δ^l as derived, with σ_l′ (or g′) written σ′(A) when its formula does not read well on matrices."""
    expr = derivation.deltas[f"delta{layer.number}"]
    form = derivation.forms[layer.number]
    if form.value_form is not None or _reads_well(form.expr):
        return expr
    pre, post = layer.pre[i, layer.unit], layer.post[i, layer.unit]
    return expr.subs(form.at(pre, post), layer.prime(pre))


def matrix_form(derivation: Derivation) -> MatrixForm:
    """Translate the derivation's forward pass, errors δ^l and backpropagation gradients into matrix expressions.

    Args:
        derivation: what :func:`symbp.derive` returned.

    Returns:
        A :class:`MatrixForm`: the statements, and the formulas of σ, g, σ′, g′ and λ to evaluate them with.

    Example:
        >>> import symbp
        >>> form = matrix_form(symbp.derive(hidden=3))
        >>> [str(st.rhs) for st in form.statements if st.part is Part.GRADIENT][2]
        'Delta2.T*X'
    """
    model = derivation.model
    translator = _Translator(model)
    statements: list[MatrixStatement] = []
    for layer in reversed(model.parameter_layers):
        target = (i, layer.unit)
        pre = layer.pre[i, layer.unit]
        statements.append(MatrixStatement(Part.FORWARD, translator.symbol(layer.pre), translator.matrix(model.pre_def(layer, i, layer.unit), target)))
        # σ's formula applied to each entry as a whole: u/(1 + e^{−u}) at A, not 1/(1 + e^{−A}) ⊙ A.
        entry = sp.Dummy("e", real=True)
        written = ElementwiseApplyFunction(sp.Lambda(entry, model.concrete(layer, entry)), translator.symbol(layer.pre))
        statements.append(MatrixStatement(Part.FORWARD, translator.symbol(layer.post), translator.matrix(layer.function(pre), target), written))
    for layer in model.parameter_layers:
        rhs = translator.matrix(_named_derivative(derivation, layer), (i, layer.unit))
        statements.append(MatrixStatement(Part.BACKWARD, translator.symbol(layer.delta), rhs))
    for name, pg in derivation.parameters.items():
        target = translator.target(pg.component.indices)
        rhs = translator.matrix(pg.data_part, target)
        if pg.penalty != 0:
            rhs = MatAdd(rhs, translator.matrix(pg.penalty, target))
        statements.append(MatrixStatement(Part.GRADIENT, translator.symbol(pg.component.base), rhs))
    for st in statements:
        if st.rhs.shape != st.lhs.shape:
            raise InternalError(f"the matrix form of {st.lhs} has shape {st.rhs.shape}, not {st.lhs.shape}")
    functions: dict[sp.FunctionClass, sp.Lambda] = {}
    for layer in model.parameter_layers:
        functions[layer.function] = sp.Lambda(VARIABLE, model.function_expr(layer))
        functions[layer.prime] = sp.Lambda(VARIABLE, derivation.forms[layer.number].expr)
    return MatrixForm(tuple(statements), functions, {LAMBDA: penalty_weight(derivation.spec)})
