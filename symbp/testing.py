"""Gradient checks that ship with symbp.

* :func:`numeric_grad` — central finite differences of any loss function.
* :func:`check_grad` — compares two gradients entry by entry and, when they
  disagree, shows the analytic and numeric values side by side.
* :func:`reference` — an independent evaluation of a derivation: SymPy's
  expanded R and the per-component derivatives of it (:mod:`symbp.symbolic.expand`),
  turned into NumPy functions with ``lambdify``.  It shares no code path with
  the generated kernels, which is the point.
* :func:`generic_gradient` — the generic index-notation gradients instantiated
  for concrete M, p, d and evaluated the same way.

Arrays follow symbp's notation: W1 (d,M), b1 (d,), W2 (M,p), b2 (M,), X (n,p), y (n,) or (n,d).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import numpy as np
import sympy as sp

from symbp.errors import InternalError
from symbp.spec.network import Loss
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.expand import check_expandable, components, expanded_gradients, expanded_loss, layer_sizes, penalty_value
from symbp.symbolic.model import LAMBDA, i, n

Params = dict[str, np.ndarray]


def numeric_grad(loss: Callable[[Params], float], params: Params, eps: float = 1e-3) -> Params:
    """Central differences of fourth order for every entry of every array, with ε scaled to the entry:

        ∂R/∂θ ≈ (8 (R(θ+ε) − R(θ−ε)) − (R(θ+2ε) − R(θ−2ε))) / 12ε,

    whose error is O(ε⁴), so that float64 agreement near 1e-10 is reachable for smooth R.
    """
    grad: Params = {}
    for name, value in params.items():
        g = np.zeros_like(value, dtype=float)
        for index in np.ndindex(value.shape):
            step = eps * max(1.0, abs(float(value[index])))

            def at(offset: float) -> float:
                moved = {k: v.astype(float, copy=True) for k, v in params.items()}
                moved[name][index] += offset
                return loss(moved)

            g[index] = (8 * (at(step) - at(-step)) - (at(2 * step) - at(-2 * step))) / (12 * step)
        grad[name] = g
    return grad


def max_relative_error(analytic: Params, numeric: Params) -> float:
    """max over entries of |a − b| / max(|a|, |b|, scale), scale = 1e-3 · the largest magnitude of the gradient."""
    scale = max(max(float(np.max(np.abs(v))) for v in numeric.values()), 1e-300) * 1e-3
    worst = 0.0
    for name in numeric:
        a, b = np.asarray(analytic[name], float), np.asarray(numeric[name], float)
        if a.shape != b.shape:
            return np.inf
        denominator = np.maximum(np.maximum(np.abs(a), np.abs(b)), scale)
        worst = max(worst, float(np.max(np.abs(a - b) / denominator)))
    return worst


def check_grad(analytic: Params, numeric: Params, rtol: float = 1e-6, what: str = "gradient") -> float:
    """Assert that two gradients agree to ``rtol``; on failure show both side by side.

    Returns:
        The largest relative error found.

    Example:
        >>> check_grad({"w": np.array([1.0])}, {"w": np.array([1.0 + 1e-9])}) < 2e-9
        True
    """
    missing = set(analytic) ^ set(numeric)
    if missing:
        raise AssertionError(f"{what}: parameters differ: {sorted(missing)}")
    error = max_relative_error(analytic, numeric)
    if not error <= rtol:
        lines = [f"{what}: relative error {error:.3e} > {rtol:.1e}", f"{'entry':<16}{'analytic':>24}{'numeric':>24}"]
        for name in numeric:
            a, b = np.asarray(analytic[name], float), np.asarray(numeric[name], float)
            if a.shape != b.shape:
                lines.append(f"{name}: shape {a.shape} vs {b.shape}")
                continue
            for index in np.ndindex(b.shape):
                flag = "  <--" if not np.isclose(a[index], b[index], rtol=rtol, atol=0) else ""
                lines.append(f"{name + str(list(index)):<16}{a[index]:>24.15g}{b[index]:>24.15g}{flag}")
        raise AssertionError("\n".join(lines))
    return error


# --- independent evaluation of symbolic expressions -------------------------------------------


def _columns(expr: sp.Expr) -> tuple[sp.Expr, dict[sp.Symbol, tuple[str, tuple[int, ...]]]]:
    """Replace every concrete Indexed (x[i,2], W2[1,3], ...) by a plain symbol, remembering where it comes from."""
    table: dict[sp.Symbol, tuple[str, tuple[int, ...]]] = {}
    replacements = {}
    for item in expr.atoms(sp.Indexed):
        base = str(item.base.label)
        concrete = tuple(int(ix) - 1 for ix in item.indices if ix != i)
        symbol = sp.Symbol(f"{base}_" + "_".join(str(c) for c in concrete))
        table[symbol] = (base, concrete)
        replacements[item] = symbol
    return expr.xreplace(replacements), table


#: The unit step kept whole: SymPy rewrites Heaviside of a nested max into a Piecewise that NumPy cannot broadcast.
STEP = sp.Function("step", real=True)


def _step(u: np.ndarray) -> np.ndarray:
    return np.heaviside(u, 0.0)


def _sample_sum(total: sp.Expr) -> Callable[[Params, np.ndarray, np.ndarray], float]:
    """A NumPy function (params, X, Y) ↦ value of an expression Σ_i (summand) with concrete indices.

    A sum of such sums and terms without samples (the L2 penalty) is evaluated term by term.
    """
    if isinstance(total, sp.Add) and total.has(sp.Sum):
        parts = [_sample_sum(term) for term in total.args]
        return lambda params, X, Y: float(sum(part(params, X, Y) for part in parts))
    if total.has(1 / n):
        # The mean's 1/n, one factor of a term (outside or inside its sum): n is the number of rows given.
        unscaled = total.xreplace({1 / n: sp.Integer(1)})
        if any(power.base == n for power in unscaled.atoms(sp.Pow)):
            raise InternalError(f"a term with n other than as one factor 1/n: {total}")
        inner = _sample_sum(unscaled)
        return lambda params, X, Y: inner(params, X, Y) / X.shape[0]
    if isinstance(total, sp.Sum):
        (var, _, _), = total.limits
        assert var == i, total.limits
        summand = total.function
    else:
        summand = total
    flat, table = _columns(summand)
    symbols = sorted(table, key=str)
    fn = sp.lambdify(symbols, flat, modules=[{"step": _step}, "numpy"])
    summed = isinstance(total, sp.Sum)

    def evaluate(params: Params, X: np.ndarray, Y: np.ndarray) -> float:
        arrays = {"x": X, "y": Y, **params}
        args = []
        for s in symbols:
            base, concrete = table[s]
            if base in ("x", "y"):
                args.append(arrays[base][:, concrete[0]])
            else:
                args.append(arrays[base][concrete])
        value = np.asarray(fn(*args), dtype=float)
        if not summed:
            return float(value)
        return float(np.sum(np.broadcast_to(value, (X.shape[0],))))

    return evaluate


@dataclass(frozen=True)
class Reference:
    """R and ∇R evaluated independently of the kernels, from SymPy's expanded expressions."""

    loss: Callable[[Params, np.ndarray, np.ndarray], float]
    grad: Callable[[Params, np.ndarray, np.ndarray], Params]


def _as_2d(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return y[:, None] if y.ndim == 1 else y


def _assemble(functions: dict[str, Callable], shapes: dict[str, tuple[int, ...]]) -> Callable[[Params, np.ndarray, np.ndarray], Params]:
    def grad(params: Params, X: np.ndarray, y: np.ndarray) -> Params:
        Y = _as_2d(y)
        out = {name: np.zeros(shape) for name, shape in shapes.items()}
        for key, fn in functions.items():
            name, index = _parse_key(key)
            out[name][index] = fn(params, X, Y)
        return out

    return grad


def _parse_key(key: str) -> tuple[str, tuple[int, ...]]:
    name, rest = key.split("[")
    return name, tuple(int(v) - 1 for v in rest.rstrip("]").split(","))


def _shapes(derivation: Derivation) -> dict[str, tuple[int, ...]]:
    spec = derivation.spec
    model = derivation.model
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in model.parameter_layers:
        below = model.below(layer)
        rows = spec.size(layer.number)
        cols = spec.inputs if below.is_input else spec.size(below.number)
        shapes[f"W{layer.number}"] = (rows, cols)
        shapes[f"b{layer.number}"] = (rows,)
    return shapes


def reference(derivation: Derivation) -> Reference:
    """Lambdify SymPy's expanded R and its per-component derivatives (needs concrete p, small M·p)."""
    loss_fn = _sample_sum(expanded_loss(derivation))
    parts = {key: _sample_sum(expr) for key, expr in expanded_gradients(derivation).items()}
    grad = _assemble(parts, _shapes(derivation))
    return Reference(loss=lambda params, X, y: loss_fn(params, X, _as_2d(y)), grad=grad)


def instantiate(expr: sp.Expr, derivation: Derivation, values: dict[sp.Symbol, int], numeric: bool = False) -> sp.Expr:
    """A generic formula for concrete indices: sizes fixed, every layer's a, h (z, f) written out, inner sums done.

    With ``numeric`` the unit step is kept as :data:`STEP`, for evaluation with NumPy.
    """
    check_expandable(derivation)
    model = derivation.model
    sizes = layer_sizes(derivation)
    concrete_sizes = {layer.size: sizes[layer.number] for layer in model.layers}
    if numeric:
        expr = expr.replace(sp.Heaviside, lambda u, *rest: STEP(u))
    expr = _unroll(expr.xreplace({**values, **concrete_sizes, LAMBDA: penalty_value(derivation)}))
    outputs = sizes[1]

    def value_of(layer, e: sp.Indexed) -> sp.Expr:
        if layer.number == 1 and derivation.spec.loss is Loss.SOFTMAX:  # e^{z_k} / Σ_u e^{z_u}, written out
            return sp.exp(layer.pre[e.indices]) / sp.Add(*(sp.exp(layer.pre[e.indices[0], u]) for u in range(1, outputs + 1)))
        return model.concrete(layer, layer.pre[e.indices])

    for layer in model.parameter_layers:  # outermost first: f → z → h² → a² → …
        below = model.below(layer)
        width = sizes[below.number]
        expr = expr.replace(
            lambda e, layer=layer: isinstance(e, sp.Indexed) and e.base == layer.post and layer.post != layer.pre,
            lambda e, layer=layer: value_of(layer, e),
        )
        expr = expr.replace(
            lambda e, layer=layer: isinstance(e, sp.Indexed) and e.base == layer.pre,
            lambda e, layer=layer, below=below, width=width: layer.b[e.indices[1]]
            + sp.Add(*(layer.W[e.indices[1], v] * below.post[i, v] for v in range(1, width + 1))),
        )
    return _unroll(expr)


def _unroll(expr: sp.Expr) -> sp.Expr:
    """Write out every sum with concrete limits as an explicit addition; sums over samples i stay."""

    def unroll(total: sp.Sum) -> sp.Expr:
        body, kept = total.function, []
        for var, lower, upper in total.limits:
            if var != i and lower.is_Integer and upper.is_Integer:
                body = sp.Add(*(body.xreplace({var: v}) for v in range(int(lower), int(upper) + 1)))
            else:
                kept.append((var, lower, upper))
        return sp.Sum(body, *kept) if kept else body

    return expr.replace(lambda e: isinstance(e, sp.Sum), unroll)


def generic_gradient(derivation: Derivation) -> Callable[[Params, np.ndarray, np.ndarray], Params]:
    """The generic gradients (``derivation.gradients``) instantiated for every component and lambdified."""
    parts = {}
    for key, component in components(derivation).items():
        name, _ = _parse_key(key)
        generic = derivation.model.component(name)
        values = {g: c for g, c in zip(generic.indices, component.indices)}
        parts[key] = _sample_sum(instantiate(derivation.gradients[name], derivation, values, numeric=True))
    return _assemble(parts, _shapes(derivation))


def random_problem(derivation: Derivation, n: int = 7, seed: int = 0, scale: float = 0.7) -> tuple[Params, np.ndarray, np.ndarray]:
    """Random parameters and data of the right shapes, for checks."""
    rng = np.random.default_rng(seed)
    shapes = _shapes(derivation)
    params = {name: scale * rng.standard_normal(shape) for name, shape in shapes.items()}
    p, d = derivation.spec.inputs, derivation.spec.outputs
    X = rng.standard_normal((n, p))
    if derivation.spec.loss is Loss.SOFTMAX:
        # One class per sample, one-hot: the targets of a sample sum to one.
        y = np.eye(d)[rng.integers(0, d, n)]
    elif derivation.spec.loss.value == "bce":
        # Targets of the cross-entropy lie in [0, 1] (labels, or probabilities).
        y = rng.uniform(0.0, 1.0, (n, d)) if d > 1 else rng.uniform(0.0, 1.0, n)
    else:
        y = rng.standard_normal((n, d)) if d > 1 else rng.standard_normal(n)
    return params, X, y
