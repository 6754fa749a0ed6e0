"""Fixtures of the data stage's tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def table() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4))
