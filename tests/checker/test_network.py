"""Concrete small networks: the sizes of the comparison, random values and the forward pass in NumPy."""

from __future__ import annotations

import itertools

import numpy as np

from symbp.checker.network import COUNTEREXAMPLE_SIZES, network_for
from symbp.spec.network import make_spec
from symbp.symbolic.model import n

TANH = make_spec(hidden=3, sigma="tanh")
DEEP = make_spec(hidden=(3, 2), sigma="tanh")
BCE = make_spec(hidden=3, sigma="tanh", g="sigmoid", loss="bce")


def test_the_sizes_of_the_comparison_are_small_but_as_wide_as_the_spec() -> None:
    network = network_for(TANH)
    assert network.sizes_named(network.check_sizes()) == {"n": 3, "p": 2, "M": 3, "d": 1}
    wide = network_for(make_spec(hidden=5, sigma="tanh", inputs=5, outputs=2))
    assert wide.sizes_named(wide.check_sizes()) == {"n": 3, "p": 3, "M": 3, "d": 2}
    deep = network_for(DEEP)
    assert deep.sizes_named(deep.check_sizes()) == {"n": 3, "p": 2, "M_3": 3, "M_2": 2, "d": 1}


def test_counterexample_sizes_come_smallest_first() -> None:
    assert len(network_for(TANH).small_sizes()) == 3 * 2 * 3  # every combination up to n = 3, p = 2, M = 3
    network = network_for(make_spec(hidden=3, sigma="tanh", inputs=3, outputs=2))
    options = network.small_sizes()
    assert len(options) == COUNTEREXAMPLE_SIZES
    assert network.sizes_named(options[0]) == {"n": 1, "p": 1, "M": 1, "d": 1}
    counts = [sum(int(np.prod(shape[1:])) for shape in network.shapes(sizes).values()) for sizes in options]
    assert counts == sorted(counts)


def test_counterexample_sizes_of_a_deep_network_are_the_smallest_without_listing_every_combination() -> None:
    # Four hidden layers: the same sizes as sorting all 3^5 · 2 combinations; sixteen: 3^18 combinations, never listed.
    network = network_for(make_spec(hidden=(3, 3, 3, 3), sigma="tanh", outputs=2))
    symbols = network.size_symbols()
    largest = network.check_sizes()
    every = [dict(zip(symbols, values)) for values in itertools.product(*(range(1, largest[s] + 1) for s in symbols))]
    numbers = lambda sizes: sum(int(np.prod(shape[1:])) for shape in network.shapes(sizes).values())  # noqa: E731
    assert network.small_sizes() == sorted(every, key=lambda sizes: (numbers(sizes), sizes[n]))[:COUNTEREXAMPLE_SIZES]
    deep = network_for(make_spec(hidden=(3,) * 16, sigma="tanh"))
    options = deep.small_sizes()
    assert len(options) == COUNTEREXAMPLE_SIZES and set(options[0].values()) == {1}


def test_the_forward_pass_is_the_network() -> None:
    network = network_for(TANH)
    sizes = network.check_sizes()
    values = network.draw(sizes, 2, np.random.default_rng(0), rounded=False)
    arrays = network.run_forward(values)
    h = np.tanh(np.einsum("Pnj,Pmj->Pnm", values["x"], values["W2"]) + values["b2"][:, None, :])
    z = np.einsum("Pnm,Pkm->Pnk", h, values["W1"]) + values["b1"][:, None, :]
    np.testing.assert_allclose(arrays["h"], h, rtol=1e-12)
    np.testing.assert_allclose(arrays["z"], z, rtol=1e-12)
    np.testing.assert_array_equal(arrays["f"], arrays["z"])  # g = identity


def test_rounded_values_have_one_decimal_and_are_never_zero() -> None:
    network = network_for(BCE)
    values = network.draw(network.check_sizes(), 24, np.random.default_rng(7), rounded=True)
    for value in values.values():
        np.testing.assert_allclose(np.round(value, 1), value)
        assert np.all(value != 0)
    assert np.all((values["y"] > 0) & (values["y"] < 1))  # cross-entropy targets


def test_components_are_every_index_tuple() -> None:
    network = network_for(TANH)
    sizes = network.check_sizes()
    combos, env = network.components("W2", sizes)
    assert combos == [(m, j) for m in (1, 2, 3) for j in (1, 2)]
    assert sorted(map(str, env)) == ["j", "k", "m"]  # k: the output index, 1 with one output
