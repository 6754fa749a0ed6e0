"""The kernel's own tanh and logistic (``_tanh``, ``_logistic``) hold the accuracy their docstrings state.

They are evaluated from NumPy's exp (see symbp.kernel.printer.FUNCTIONS); the reference is mpmath at 40
digits, on a grid over the range where the functions are not constant, logarithmically spaced small and
large arguments, and the edges: the bound of the exponent, overflow, infinities and NaN.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import mpmath
import numpy as np
import pytest

GENERATED = Path(__file__).resolve().parents[2] / "generated"


def kernel(name: str):
    spec = importlib.util.spec_from_file_location(f"functions_{name}", GENERATED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Both functions, float64 and float32 (the float32 kernel of the standard set defines both as well).
KERNELS = {np.float64: kernel("tanh_sigmoid_m3"), np.float32: kernel("tanh_sigmoid_m3_bce_f32")}
EDGES = [0.0, 1e-300, 1e-30, 1e-8, 0.5, 9.0, 19.06, 40.0, 44.0, 80.0, 88.0, 89.0, 100.0, 354.0, 709.0, 710.0, 1e300]


def arguments(dtype) -> np.ndarray:
    small_and_large = np.geomspace(1e-30, 1e3, 4001)
    values = np.concatenate([np.linspace(-50, 50, 20001), small_and_large, -small_and_large, EDGES, np.negative(EDGES)])
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def reference(function, x: np.ndarray) -> np.ndarray:
    with mpmath.workdps(40):
        return np.array([float(function(mpmath.mpf(float(v)))) for v in x])


def stated(doc: str, what: str, dtype) -> float:
    """The bound the docstring states: '<what> at most A in float64 and B in float32'."""
    found = re.search(rf"{what} at most ([0-9.e-]+) in float64 and ([0-9.e-]+) in float32", " ".join(doc.split()))
    assert found, f"the docstring states no {what.lower()}: {doc}"
    return float(found[1] if dtype is np.float64 else found[2])


def evaluate(function, x: np.ndarray) -> np.ndarray:
    """function(x) with overflow, invalid values and division by zero as errors: none may leak out of the function
    (underflow, of e^{-2x} to 0 for large x, is the right answer)."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out = np.empty_like(x)
        result = function(x, out=out)
    assert result is out and out.dtype == x.dtype
    return out.astype(float)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_tanh_is_within_its_stated_absolute_error(dtype):
    tanh = KERNELS[dtype]._tanh
    x = arguments(dtype)
    error = np.abs(evaluate(tanh, x) - reference(mpmath.tanh, x))
    bound = stated(tanh.__doc__, "Absolute error", dtype)
    assert error.max() <= bound, f"{error.max():.3g} at x = {x[error.argmax()]!r}"
    # The bound is not loose: the error reaches a quarter of it (else it would hide a worse formula).
    assert error.max() >= bound / 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_the_logistic_is_within_its_stated_relative_error_down_to_the_smallest_normal_number(dtype):
    logistic = KERNELS[dtype]._logistic
    x = arguments(dtype)
    exact = reference(lambda v: 1 / (1 + mpmath.exp(-v)), x)
    got = evaluate(logistic, x)
    normal = exact >= np.finfo(dtype).tiny
    relative = np.abs(got - exact)[normal] / exact[normal]
    bound = stated(logistic.__doc__, "Relative error", dtype)
    assert relative.max() <= bound, f"{relative.max():.3g} at x = {x[normal][relative.argmax()]!r}"
    assert relative.max() >= bound / 4
    # Below: as small as the type goes, down to 0 where e^{-x} overflows.
    assert np.all(np.abs(got - exact)[~normal] <= np.finfo(dtype).tiny)
    assert np.all(got[x <= -750] == 0.0) and np.all(got[x >= 750] == 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_the_functions_saturate_exactly_and_keep_nan(dtype):
    k = KERNELS[dtype]
    x = np.array([-np.inf, -1e30, -45.0, 45.0, 1e30, np.inf, np.nan], dtype)
    assert evaluate(k._tanh, x)[:6].tolist() == [-1, -1, -1, 1, 1, 1]
    assert evaluate(k._logistic, x)[[0, 1, 4, 5]].tolist() == [0, 0, 1, 1]
    assert np.isnan(evaluate(k._tanh, x)[6]) and np.isnan(evaluate(k._logistic, x)[6])


def test_the_functions_compute_in_place_and_into_a_new_array():
    k = KERNELS[np.float64]
    x = np.linspace(-3, 3, 13)
    assert np.allclose(k._tanh(x), np.tanh(x), rtol=0, atol=1e-15) and np.allclose(k._logistic(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    y = x.copy()
    assert k._tanh(y, out=y) is y and np.allclose(y, np.tanh(x), rtol=0, atol=1e-15)


def test_the_check_would_see_a_function_one_digit_off():
    """The tanh check can fail: tanh computed in float32 is far outside the float64 bound."""
    tanh = KERNELS[np.float64]._tanh
    x = arguments(np.float32)
    error = np.abs(np.tanh(x).astype(float) - reference(mpmath.tanh, x))
    assert error.max() > stated(tanh.__doc__, "Absolute error", np.float64)
