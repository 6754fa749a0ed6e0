"""The gradient checks symbp ships: finite differences of fourth order, and a side-by-side report when gradients differ."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.testing import check_grad, max_relative_error, numeric_grad


def test_numeric_grad_of_a_quartic_is_exact_to_rounding() -> None:
    params = {"w": np.array([0.3, -1.2, 2.0])}
    numeric = numeric_grad(lambda p: float(np.sum(p["w"] ** 4)), params)
    np.testing.assert_allclose(numeric["w"], 4 * params["w"] ** 3, rtol=1e-9)


def test_check_grad_shows_both_values_where_they_differ() -> None:
    analytic = {"w": np.array([1.0, 2.0]), "b": np.array([3.0])}
    numeric = {"w": np.array([1.0, 2.1]), "b": np.array([3.0])}
    with pytest.raises(AssertionError) as info:
        check_grad(analytic, numeric, rtol=1e-6, what="a test gradient")
    report = str(info.value)
    assert report.startswith("a test gradient: relative error") and "w[1]" in report and "<--" in report
    assert max_relative_error(analytic, analytic) == 0.0


def test_check_grad_refuses_different_parameters() -> None:
    with pytest.raises(AssertionError, match=r"parameters differ: \['b'\]"):
        check_grad({"w": np.zeros(1)}, {"w": np.zeros(1), "b": np.zeros(1)})
