"""The notation of hand-written gradient formulas, for one spec.

A formula for one generic component of a gradient is typed in plain text
(the README, "Checking a hand-derived gradient"), e.g. for ∂R/∂W²_{mj} with one hidden layer::

    sum(-2*(y[i]-f[i])*W1[m]*h[i,m]*(1-h[i,m])*x[i,j], i)

:class:`Notation` knows, for one spec, the arrays (x, y, W1, b1, …, a, h, z, f),
the index letters (i, j, k, m, …) and the functions (sigma, g, their derivatives,
exp, …) a formula may use, and prints SymPy in the same notation
(:class:`~symbp.checker.text.TextPrinter`).  :mod:`symbp.checker.reader` reads
formulas with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from symbp.checker.text import TextPrinter
from symbp.errors import SpecError
from symbp.spec.functions import FUNCTIONS
from symbp.spec.network import Loss, Spec
from symbp.symbolic.derivation import Derivation, derive
from symbp.symbolic.model import LAMBDA, Layer, Model, i, j, k, n, x, y

#: The sample index and the output index (which may be left out when d = 1).
SAMPLE = i
OUTPUT = k


@dataclass(frozen=True)
class Array:
    """An array of the notation: its SymPy base and the index letter of each axis."""

    base: sp.IndexedBase
    slots: tuple[sp.Symbol, ...]
    output_axis: int | None  # the axis of the output index k, which may be left out when d = 1

    @property
    def name(self) -> str:
        return str(self.base.label)


@lru_cache(maxsize=32)
def notation_for(spec: Spec) -> Notation:
    """The notation of a spec, with its derivation (cached: deriving takes a moment).

    Args:
        spec: the network.

    Returns:
        Its :class:`Notation`.

    Example:
        >>> from symbp.spec.network import make_spec
        >>> list(notation_for(make_spec(hidden=3, sigma="tanh")).arrays)
        ['x', 'y', 'W1', 'b1', 'W2', 'b2', 'a', 'h', 'z', 'f']
    """
    return Notation(derive(spec=spec))


class Notation:
    """The arrays, index letters and functions a formula may use for one spec.

    Attributes:
        derivation: the spec's derivation (its model, σ′ and g′ as SymPy derived them).
        indices: index letter → (symbol, size it runs up to, what it runs over).
        arrays: name → :class:`Array`, in the order x, y, W1, b1, …, then a, h, …, z, f.
        constants: pi, e and lam (λ, the weight of the L2 penalty); n (the samples) with the mean reduction.
        layer_functions: sigma, sigma_prime, g, g_prime (sigma2, … per layer in deeper networks) → (layer, is the derivative).
        functions: the other functions a formula may call, with their number of arguments.
        printer: a :class:`TextPrinter` for this notation.
    """

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.model = model = derivation.model
        spec = derivation.spec
        self.single_output = spec.outputs == 1
        self.indices = _indices(model)
        self.arrays = {array.name: array for array in _arrays(model)}
        self.index_symbols = frozenset(symbol for symbol, _, _ in self.indices.values())
        self.constants: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E, "lam": LAMBDA}
        if spec.mean:
            self.constants["n"] = n  # the number of samples, which the mean divides by
        # σ, σ′ by layer (σ for all layers when they share one), g, g′, then the plain functions.
        self.layer_functions: dict[str, tuple[Layer, bool]] = {}
        hidden = model.hidden_layers
        if spec.uniform_sigma:
            self.layer_functions |= {"sigma": (hidden[0], False), "sigma_prime": (hidden[0], True)}
        if spec.depth > 1:
            for layer in hidden:
                self.layer_functions |= {f"sigma{layer.number}": (layer, False), f"sigma{layer.number}_prime": (layer, True)}
        if spec.loss is not Loss.SOFTMAX:  # the softmax is not a function of one z: formulas write f
            self.layer_functions |= {"g": (model.layers[0], False), "g_prime": (model.layers[0], True)}
        self.functions: dict[str, tuple[int, Callable[..., sp.Expr]]] = {"step": (1, sp.Heaviside), "sign": (1, sp.sign), **FUNCTIONS}
        self.printer = TextPrinter({name: array.output_axis for name, array in self.arrays.items()}, self.single_output)

    def parameter(self, param: object) -> str:
        """The parameter's name if the spec has it, else a SpecError naming the allowed ones."""
        name = param.strip() if isinstance(param, str) else param
        if name not in self.model.parameters:
            raise SpecError(f"unknown parameter {param!r}: choose one of {', '.join(self.model.parameters)}")
        return name  # type: ignore[return-value]

    def usage(self, array: Array) -> str:
        """How the array is written: ``h[i,m]``; ``f[i,k] or f[i]`` where k may be left out."""
        full = f"{array.name}[{','.join(map(str, array.slots))}]"
        if self.single_output and array.output_axis is not None:
            short = [str(s) for pos, s in enumerate(array.slots) if pos != array.output_axis]
            return full + " or " + (f"{array.name}[{','.join(short)}]" if short else array.name)
        return full

    def constant_names(self) -> str:
        """pi, e, lam (and n with the mean reduction), for messages."""
        return ", ".join(self.constants)

    def allowed_names(self) -> str:
        """The arrays and index letters, for a message about a name the notation does not know."""
        letters = ", ".join(f"{letter} ({what})" for letter, (_, _, what) in self.indices.items())
        return f"the arrays {', '.join(self.arrays)}; the index letters {letters}"

    def function_name(self, layer: Layer, prime: bool = False) -> str:
        """sigma, sigma_prime, sigma3, g, … : how a formula calls the function of ``layer``."""
        return next(name for name, (lay, is_prime) in self.layer_functions.items() if is_prime == prime and lay.function == layer.function)

    def definitions(self) -> tuple[str, ...]:
        """The forward pass, first hidden layer first: a[i,m] = b2[m] + sum(W2[m,j]*x[i,j], j), h[i,m] = sigma(a[i,m]), …"""
        lines = []
        for layer in reversed(self.model.parameter_layers):
            below = self.model.below(layer)
            pre = layer.pre[SAMPLE, layer.unit]
            definition = self.model.pre_def(layer, SAMPLE, layer.unit).xreplace({below.bound: below.unit})
            lines.append(f"{self.printer.doprint(pre)} = {self.printer.doprint(definition)}")
            post = self.printer.doprint(layer.post[SAMPLE, layer.unit])
            if layer.number == 1 and self.derivation.spec.loss is Loss.SOFTMAX:
                lines.append(f"{post} = exp({self.printer.doprint(pre)})/sum(exp(z[i,k']), k')")
            else:
                lines.append(f"{post} = {self.function_name(layer)}({self.printer.doprint(pre)})")
        return tuple(lines)

    def quantity_text(self, expr: sp.Expr) -> str:
        """h[i,m]; or sigma_prime(a[i,m]) for σ′ written in its value form (1 - h[i,m]**2)."""
        for layer in self.model.parameter_layers:
            pre = layer.pre[SAMPLE, layer.unit]
            if layer.number == 1 and self.derivation.spec.loss is Loss.SOFTMAX:
                continue  # no g′ of one z
            if expr == self.derivation.forms[layer.number].at(pre, layer.post[SAMPLE, layer.unit]):
                return f"{self.function_name(layer, prime=True)}({self.printer.doprint(pre)})"
        return self.printer.doprint(expr)


def _indices(model: Model) -> dict[str, tuple[sp.Symbol, sp.Symbol, str]]:
    """Index letter → (symbol, size it runs up to, what it runs over): i, then the letter of each layer, output first."""
    indices: dict[str, tuple[sp.Symbol, sp.Symbol, str]] = {"i": (SAMPLE, n, "the samples")}
    for layer in model.layers:
        if layer.is_input:
            what = "the inputs"
        elif layer.number == 1:
            what = "the outputs"
        else:
            what = "the hidden units" if model.spec.depth == 1 else f"the units of layer {layer.number}"
        indices[str(layer.unit)] = (layer.unit, layer.size, what)
    return indices


def _arrays(model: Model) -> list[Array]:
    """x, y, the parameters W1, b1, W2, b2, …, then the forward pass from the first hidden layer on: a, h, …, z, f."""
    arrays = [Array(x, (SAMPLE, j), None), Array(y, (SAMPLE, OUTPUT), 1)]
    for layer in model.parameter_layers:
        out = layer.number == 1
        arrays += [Array(layer.W, (layer.unit, model.below(layer).unit), 0 if out else None), Array(layer.b, (layer.unit,), 0 if out else None)]
    for layer in reversed(model.parameter_layers):
        out = layer.number == 1
        arrays += [Array(layer.pre, (SAMPLE, layer.unit), 1 if out else None), Array(layer.post, (SAMPLE, layer.unit), 1 if out else None)]
    return arrays
