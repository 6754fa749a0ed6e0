"""Concrete small networks in NumPy for one spec: the sizes, random values and forward pass formulas are evaluated on."""

from __future__ import annotations

import heapq
import itertools
import math
from functools import lru_cache

import numpy as np
import sympy as sp

from symbp.checker.evaluate import IndexNotationEvaluator
from symbp.checker.notation import OUTPUT, Notation, notation_for
from symbp.spec.functions import X
from symbp.spec.network import Loss, Spec
from symbp.symbolic.model import i, n, p

#: Sizes of the numeric comparison: n samples, p inputs (unless the spec fixes fewer), units per layer at most.
CHECK_SAMPLES = 3
CHECK_INPUTS = 2
MAX_CHECK_UNITS = 3
#: Size combinations tried for a counterexample, smallest first.
COUNTEREXAMPLE_SIZES = 40


@lru_cache(maxsize=32)
def network_for(spec: Spec) -> Network:
    """The concrete networks of a spec (cached with its notation).

    Example:
        >>> from symbp.spec.network import make_spec
        >>> network = network_for(make_spec(hidden=3, sigma="tanh"))
        >>> network.sizes_named(network.check_sizes())
        {'n': 3, 'p': 2, 'M': 3, 'd': 1}
    """
    return Network(notation_for(spec))


def _softmax_units(pre: np.ndarray) -> np.ndarray:
    """The softmax over the units (the last axis), shifted by the largest so that nothing overflows."""
    shifted = np.exp(pre - pre.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Network:
    """Concrete sizes, random values and the forward pass in NumPy for one spec.

    Sizes are dicts from the size symbols (n, p, M, …, d) to numbers; values are dicts
    from array names (x, y, W1, b1, …) to arrays with a leading axis of points.
    """

    def __init__(self, notation: Notation) -> None:
        self.notation = notation
        self.model = notation.model
        self.spec = notation.derivation.spec
        self.forward = {layer.number: sp.lambdify(X, self.model.function_expr(layer), "numpy") for layer in self.model.parameter_layers}
        if self.spec.loss is Loss.SOFTMAX:
            self.forward[1] = _softmax_units

    def check_sizes(self) -> dict[sp.Symbol, int]:
        """The sizes of the numeric comparison: small, but with every layer as wide as the spec up to a few units."""
        spec = self.spec
        sizes = {n: CHECK_SAMPLES, p: min(spec.inputs or CHECK_INPUTS, MAX_CHECK_UNITS)}
        for layer in self.model.parameter_layers:
            sizes[layer.size] = min(spec.size(layer.number), MAX_CHECK_UNITS)
        return sizes

    def small_sizes(self) -> list[dict[sp.Symbol, int]]:
        """Sizes for a counterexample, those with the fewest numbers first (n = 1 first among equals).

        The :data:`COUNTEREXAMPLE_SIZES` smallest of all sizes up to :meth:`check_sizes`, found best
        first from all ones: a larger size always means more numbers, so a heap yields them in order
        without listing every combination (3^(L+2) of them for L hidden layers).
        """
        largest = self.check_sizes()
        symbols = self.size_symbols()

        def key(values: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
            shapes = self.shapes(dict(zip(symbols, values, strict=True)))
            return sum(math.prod(shape[1:]) for shape in shapes.values()), values[0], values  # values[0] is n

        start = (1,) * len(symbols)
        heap, seen, found = [key(start)], {start}, []
        while heap and len(found) < COUNTEREXAMPLE_SIZES:
            values = heapq.heappop(heap)[2]
            found.append(dict(zip(symbols, values, strict=True)))
            for position, symbol in enumerate(symbols):
                larger = values[:position] + (values[position] + 1,) + values[position + 1:]
                if larger[position] <= largest[symbol] and larger not in seen:
                    seen.add(larger)
                    heapq.heappush(heap, key(larger))
        return found

    def size_symbols(self) -> list[sp.Symbol]:
        """n, p, then the width of each layer from the first hidden one to the output: n, p, M, d."""
        return [n, p, *(layer.size for layer in reversed(self.model.parameter_layers))]

    def sizes_named(self, sizes: dict[sp.Symbol, int]) -> dict[str, int]:
        """The sizes by name, in the order n, p, M, …, d."""
        return {str(s): sizes[s] for s in self.size_symbols()}

    def shapes(self, sizes: dict[sp.Symbol, int], points: int = 1) -> dict[str, tuple[int, ...]]:
        """The shape of every array of data and parameters, with a leading axis of points."""
        samples, inputs, outputs = sizes[n], sizes[p], sizes[self.model.layers[0].size]
        shapes = {"x": (points, samples, inputs), "y": (points, samples, outputs)}
        for layer in self.model.parameter_layers:
            below = self.model.below(layer)
            shapes[f"W{layer.number}"] = (points, sizes[layer.size], sizes[below.size])
            shapes[f"b{layer.number}"] = (points, sizes[layer.size])
        return shapes

    def draw(self, sizes: dict[sp.Symbol, int], points: int, rng: np.random.Generator, rounded: bool) -> dict[str, np.ndarray]:
        """Random data and parameters; ``rounded``: one-decimal values, never 0."""
        values = {}
        for name, shape in self.shapes(sizes, points).items():
            if name == "y" and self.spec.loss is Loss.SOFTMAX:
                # A class per sample, one-hot: the targets of a sample sum to one, as the softmax's δ¹ = f − y assumes.
                values[name] = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
            elif rounded:
                magnitude = rng.integers(1, 10, shape) / 10
                values[name] = magnitude if (name == "y" and self.bce) else magnitude * rng.choice([-1.0, 1.0], shape)
            elif name == "y" and self.bce:
                values[name] = rng.uniform(0.05, 0.95, shape)
            else:
                values[name] = (1.0 if name == "x" else 0.7) * rng.standard_normal(shape)
        return values

    @property
    def bce(self) -> bool:
        """Cross-entropy loss: the targets are drawn in (0, 1)."""
        return self.spec.loss is Loss.BCE

    def run_forward(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every array of the notation, the forward pass computed in NumPy."""
        arrays = dict(values)
        post = values["x"]
        with np.errstate(all="ignore"):
            for layer in reversed(self.model.parameter_layers):
                pre = np.einsum("Pnv,Puv->Pnu", post, values[f"W{layer.number}"]) + values[f"b{layer.number}"][:, None, :]
                post = np.broadcast_to(np.asarray(self.forward[layer.number](pre), dtype=float), pre.shape)
                arrays[str(layer.pre.label)] = pre
                arrays[str(layer.post.label)] = post
        return arrays

    def run_backward(self, arrays: dict[str, np.ndarray], sizes: dict[sp.Symbol, int], symbols: dict[sp.Symbol, float]) -> dict[str, np.ndarray]:
        """``arrays`` with δ¹, δ², … of the derivation for every sample and unit, each from the one above.

        Args:
            arrays: every array of the notation with the forward pass (:meth:`run_forward`).
            sizes: the sizes they have.
            symbols: the values of other symbols (λ).

        Returns:
            The arrays and ``delta1``, ``delta2``, …, each points × n × units.
        """
        arrays = dict(arrays)
        points = arrays["x"].shape[0]
        for layer in self.model.parameter_layers:
            samples, units = sizes[n], sizes[layer.size]
            env = {i: np.repeat(np.arange(1, samples + 1), units), layer.unit: np.tile(np.arange(1, units + 1), samples)}
            value = IndexNotationEvaluator(arrays, sizes, env, symbols)(self.notation.derivation.deltas[str(layer.delta.label)])
            arrays[str(layer.delta.label)] = value.reshape(points, samples, units)
        return arrays

    def components(self, param: str, sizes: dict[sp.Symbol, int]) -> tuple[list[tuple[int, ...]], dict[sp.Symbol, np.ndarray]]:
        """Every component of the parameter (1-based index tuples), and the index values that pick them."""
        component = self.model.component(param)
        ranges = [range(1, sizes[self.notation.indices[str(ix)][1]] + 1) for ix in component.indices]
        combos = list(itertools.product(*ranges))
        env = {ix: np.array([c[pos] for c in combos]) for pos, ix in enumerate(component.indices)}
        if self.notation.single_output:
            env.setdefault(OUTPUT, np.ones(len(combos), dtype=int))
        return combos, env
