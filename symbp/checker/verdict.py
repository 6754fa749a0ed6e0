"""What the judge answers: a :class:`Verdict`, and a :class:`Counterexample` where the formula is wrong."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class Verdict(enum.Enum):
    """What the formula looks like compared with the derived gradient."""

    CORRECT = "correct"
    CONSTANT_FACTOR = "constant factor"
    SIGN = "sign"
    WRONG_QUANTITY = "wrong quantity"
    MISSING_BIAS = "missing bias"
    WRONG = "wrong"


@dataclass(frozen=True)
class Counterexample:
    """A small network and data set where the formula and the derived gradient differ.

    Attributes:
        sizes: ``{"n": …, "p": …, "M": …, "d": …}`` (deeper networks: ``M_2``, ``M_3``, …).
        X: the inputs, n × p.
        y: the targets, (n,) with one output, else n × d.
        params: W1 (d × M), b1 (d,), W2 (M × p), b2 (M,), … as in the kernels.
        component: the component that differs, 1-based as in the notation, e.g. ``"W2[1,1]"``.
        index: the same component 0-based, so that ``params[name][index]`` is it.
        user_value: the formula's value there.
        derived_value: the derived gradient's value there.
    """

    sizes: dict[str, int]
    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    component: str
    index: tuple[int, ...]
    user_value: float
    derived_value: float

    def lines(self) -> list[str]:
        """The counterexample as lines of the report: sizes, data, parameters, both values."""
        sizes = ", ".join(f"{key} = {value}" for key, value in self.sizes.items())
        arrays = [f"x = {_numbers(self.X)}", f"y = {_numbers(self.y)}"]
        params = [f"{name} = {_numbers(value)}" for name, value in self.params.items()]
        return [
            f"counterexample ({sizes}):",
            "  " + "   ".join(arrays),
            "  " + "   ".join(params),
            f"  dR/d{self.component}: yours = {self.user_value:.4g}, derived = {self.derived_value:.4g}",
        ]


def _numbers(values: np.ndarray) -> str:
    """An array as nested lists of short numbers: [[0.3, -1.2]]."""
    if np.ndim(values) == 0:
        return f"{float(values):g}"
    return "[" + ", ".join(_numbers(v) for v in values) + "]"
