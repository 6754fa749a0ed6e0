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


def test_the_depth_limit_is_large_and_refused_in_one_line() -> None:
    from symbp.spec.network import MAX_HIDDEN_LAYERS

    assert MAX_HIDDEN_LAYERS == 100 and make_spec(hidden=(2,) * 100).depth == 100
    with pytest.raises(SpecError) as caught:
        make_spec(hidden=(2,) * 101)
    message = str(caught.value)
    assert message.startswith("101 hidden layers are more than the 100 symbp derives (") and "\n" not in message


def test_a_deep_network_has_a_short_name() -> None:
    # A name lists the hidden sizes while they fit in 40 characters; deeper, the depth and a digest of the sizes.
    assert make_spec(hidden=(16, 8)).name == "tanh_identity_m16x8"
    deep = make_spec(hidden=(8,) * 32).name
    assert deep.startswith("tanh_identity_h32_") and len(deep) == len("tanh_identity_h32_") + 8
    assert make_spec(hidden=(8,) * 31 + (4,)).name != deep
