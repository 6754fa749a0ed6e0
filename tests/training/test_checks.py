"""The number checks shared by the run's settings and the step-size rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symbp.errors import SpecError
from symbp.training.checks import as_int, is_finite_real


@pytest.mark.parametrize(("value", "expected"), [(1.5, True), (0, True), (np.float32(2), True), (math.inf, False), (math.nan, False), (True, False), ("1", False), (None, False)])
def test_is_finite_real(value, expected) -> None:
    assert is_finite_real(value) is expected


def test_as_int_takes_integers_and_numpy_integers_only() -> None:
    assert as_int("steps", 3, 0) == 3 and as_int("steps", np.int64(4), 0) == 4
    for bad in (2.0, True, "3", -1):
        with pytest.raises(SpecError, match=r"^steps must be an integer >= 0, got "):
            as_int("steps", bad, 0)
