"""Spec validation."""

from __future__ import annotations

import pytest

from symbp.errors import SpecError
from symbp.spec.network import make_spec


@pytest.mark.parametrize("hidden", [0, -1, 2.5, "three", "", True, None, "1e3"])
def test_bad_hidden_size(hidden: object) -> None:
    with pytest.raises(SpecError, match="hidden size M must be a positive integer"):
        make_spec(hidden=hidden)  # type: ignore[arg-type]


def test_good_spec_and_name() -> None:
    spec = make_spec(hidden="4", sigma="relu", g="exp", inputs=3)
    assert spec.hidden == (4,) and spec.M == 4 and spec.inputs == 3
    assert spec.name == "relu_exp_m4_p3"
    assert make_spec(sigma="x/(1+exp(-x))").name.startswith("sigma_custom")
    assert make_spec(sigma="x/(1+exp(-x))").name == make_spec(sigma=" x/(1+exp(-x)) ").name


def test_spec_is_frozen() -> None:
    spec = make_spec()
    with pytest.raises(AttributeError):
        spec.hidden = 5  # type: ignore[misc]
