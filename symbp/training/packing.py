"""The parameters as one flat vector a, and the bound that tells whether a is finite without looking at it.

A step is then two array operations, not two per parameter.  The parameters
handed to the objective are views into a new flat vector each step (never
updated in place), each with its own shape and dtype.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from symbp.errors import UserError
from symbp.training.state import Params

__all__ = ["Packing", "copy_params", "magnitude"]


def copy_params(params0: Params, what: str = "params0") -> Params:
    """A copy of the parameters as float arrays (integers become float64), or a UserError saying what does not fit."""
    if not isinstance(params0, dict) or not params0:
        raise UserError(f"{what} must be a non-empty dict of parameter name -> float array")
    params: Params = {}
    for name, value in params0.items():
        array = np.array(value, copy=True)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        elif array.dtype.kind != "f":
            raise UserError(f"parameter {name!r} must be a real float array, got dtype {array.dtype}")
        params[name] = array
    return params


@dataclass(frozen=True, eq=False)
class Packing:
    """Where each parameter lives in one flat vector a."""

    names: tuple[str, ...]
    shapes: list[tuple[int, ...]]  # a list: compared with the list of a gradient's shapes at every step
    dtypes: tuple[np.dtype, ...]
    parts: tuple[slice, ...]  # where each parameter lies in the flat vector
    dtype: np.dtype  # of the flat vector: the common type of all parameters
    mixed: bool  # some parameter has another dtype than the flat vector (float32 beside float64)
    #: (name, part, shape), with shape None for a vector: the above as unpack reads it at every step
    views: tuple[tuple[str, slice, tuple[int, ...] | None], ...]
    array_types: list[type]  # [numpy.ndarray] * len(names): what the usual gradient's types are

    @classmethod
    def of(cls, params: Params) -> Packing:
        """The packing of these parameters, in their order."""
        sizes = [a.size for a in params.values()]
        ends = list(itertools.accumulate(sizes))
        dtype = np.result_type(*params.values())
        names, shapes = tuple(params), [a.shape for a in params.values()]
        parts = tuple(slice(start, end) for start, end in zip([0, *ends[:-1]], ends))
        return cls(
            names=names, shapes=shapes, dtypes=tuple(a.dtype for a in params.values()), parts=parts,
            dtype=dtype, mixed=any(a.dtype != dtype for a in params.values()),
            views=tuple((name, part, None if len(shape) == 1 else shape) for name, part, shape in zip(names, parts, shapes)),
            array_types=[np.ndarray] * len(names),
        )

    def pack(self, arrays: Params) -> np.ndarray:
        """The arrays (parameters or gradients, by name) as one flat vector."""
        return self.flatten([arrays[name] for name in self.names])

    @staticmethod
    def flatten(values: list[np.ndarray]) -> np.ndarray:
        """Arrays already in the parameters' order as one flat vector."""
        return np.concatenate([value.ravel() for value in values])

    def unpack(self, flat: np.ndarray) -> Params:
        """Views into ``flat``, each cast back to its parameter's dtype (so float32 stays float32)."""
        views = {}
        for name, part, shape in self.views:  # a plain loop: this runs at every step
            view = flat[part]
            views[name] = view if shape is None else view.reshape(shape)
        if self.mixed:
            views = {name: view.astype(dtype, copy=False) for (name, view), dtype in zip(views.items(), self.dtypes)}
        return views

    def step(self, flat: np.ndarray, packed: np.ndarray, gamma: float) -> np.ndarray:
        """a − γ g (g packed) as a new flat vector: never in place, so earlier points stay valid.

        Each parameter is rounded to its own dtype, as the objective will see it, so that the run goes
        on from exactly the point a saved state holds (float32 parameters with float64 gradients).
        """
        return self.rounded(flat - gamma * packed)

    def shift(self, flat: np.ndarray, update: np.ndarray) -> np.ndarray:
        """a + u for an update u computed by a rule (momentum, Adam), as a new flat vector, rounded as :meth:`step`."""
        return self.rounded(flat + update)

    def rounded(self, new: np.ndarray) -> np.ndarray:
        """A new point, each parameter rounded to its own dtype."""
        if new.dtype != self.dtype:  # float32 parameters, float64 gradients
            new = new.astype(self.dtype)
        if self.mixed:  # a float32 parameter inside a float64 vector
            for part, dtype in zip(self.parts, self.dtypes):
                new[part] = new[part].astype(dtype)
        return new

    def finite_bound(self) -> tuple[float, float]:
        """How far a bound on max_i |a_i| may go before the entries are looked at, and its growth per step.

        While a bound B on max_i |a_i| stays below the first number, a is finite without looking at it:
        the largest float of the parameters' narrowest type, with a margin of 10⁸.  After a step with a
        gradient at least as wide as a, B + γ‖g‖ times the second number bounds max_i |a_i − γg_i|: it
        covers the relative rounding of γg, of the subtraction and of a cast to a narrower parameter type
        (4 ε of the narrowest type), so that it holds after any number of steps.  A ‖g‖ computed a little
        short by rounding is absorbed by the margin.
        """
        types = [np.finfo(dtype) for dtype in (self.dtype, *self.dtypes)]
        return min(float(t.max) for t in types) * 1e-8, 1.0 + 4 * max(float(t.eps) for t in types)


def magnitude(flat: np.ndarray) -> float:
    """A bound on max_i |a_i|: ‖a‖₂, or max_i |a_i| when ‖a‖² overflows; inf or NaN exactly when some a_i is."""
    square = float(np.vdot(flat, flat))
    return math.sqrt(square) if math.isfinite(square) else float(np.abs(flat).max())
