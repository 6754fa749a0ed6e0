"""The parameters as one flat vector: packing, views, steps in each parameter's own dtype, the finiteness bound."""

from __future__ import annotations

import numpy as np

from symbp.training.packing import Packing, copy_params, magnitude


def params():
    return {"W": np.arange(6.0).reshape(2, 3), "b": np.array([1.0, 2.0])}


def test_pack_and_unpack_are_inverse_and_views() -> None:
    packing = Packing.of(params())
    flat = packing.pack(params())
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 1, 2])
    views = packing.unpack(flat)
    assert views["W"].shape == (2, 3) and np.shares_memory(views["W"], flat)


def test_a_step_is_a_new_vector_rounded_to_each_parameter_s_dtype() -> None:
    mixed = {"W": np.ones((2, 2), np.float32), "b": np.ones(2)}
    packing = Packing.of(mixed)
    flat = packing.pack(mixed)
    new = packing.step(flat, np.full(6, 1 / 3), 1.0)
    assert new is not flat and np.all(flat == 1.0)  # earlier points stay valid
    views = packing.unpack(new)
    assert views["W"].dtype == np.float32 and views["W"][0, 0] == np.float32(1 - 1 / 3)
    np.testing.assert_array_equal(packing.shift(flat, np.full(6, 0.5))[-2:], [1.5, 1.5])


def test_copy_params_turns_integers_into_floats_and_refuses_the_rest() -> None:
    copied = copy_params({"a": np.array([1, 2])})
    assert copied["a"].dtype == np.float64
    try:
        copy_params({"a": np.array(["x"])})
    except ValueError as err:
        assert "real float array" in str(err)
    else:
        raise AssertionError("a string array was taken as parameters")


def test_magnitude_is_inf_or_nan_exactly_when_an_entry_is() -> None:
    assert magnitude(np.array([3.0, 4.0])) == 5.0
    assert magnitude(np.array([1e200, 1e200])) == 1e200  # ‖a‖² overflows: the largest entry instead
    assert not np.isfinite(magnitude(np.array([1.0, np.inf]))) and np.isnan(magnitude(np.array([np.nan, 1.0])))
    safe, growth = Packing.of(params()).finite_bound()
    assert safe == np.finfo(np.float64).max * 1e-8 and growth > 1
