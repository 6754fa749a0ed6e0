"""Checks of the numbers a run is given, shared by the step-size rules and the run's settings."""

from __future__ import annotations

import math
import numbers
import operator

from symbp.errors import SpecError


def is_finite_real(value: object) -> bool:
    """True for a finite real number (int, float, numpy scalar), False for bools, NaN, ±inf and anything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def as_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int (ints and numpy integers, not floats or bools) of at least ``minimum``, or a SpecError."""
    try:
        if isinstance(value, bool):
            raise TypeError
        result = operator.index(value)
    except TypeError:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if result < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return result
