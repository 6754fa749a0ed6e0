"""The notation of one spec: its arrays, index letters and layer functions, and the forward pass written in it."""

from __future__ import annotations

import pytest

from symbp.checker.notation import notation_for
from symbp.errors import SpecError
from symbp.spec.network import make_spec

TANH = make_spec(hidden=3, sigma="tanh")
DEEP = make_spec(hidden=(3, 2), sigma="tanh")
MIXED = make_spec(hidden=(2, 2), sigma=("tanh", "relu"), outputs=2)


def test_the_arrays_and_index_letters_of_one_hidden_layer() -> None:
    notation = notation_for(TANH)
    assert list(notation.arrays) == ["x", "y", "W1", "b1", "W2", "b2", "a", "h", "z", "f"]
    assert {letter: what for letter, (_, _, what) in notation.indices.items()} == {
        "i": "the samples",
        "k": "the outputs",
        "m": "the hidden units",
        "j": "the inputs",
    }
    assert [notation.usage(array) for array in notation.arrays.values()] == [
        "x[i,j]", "y[i,k] or y[i]", "W1[k,m] or W1[m]", "b1[k] or b1", "W2[m,j]", "b2[m]", "a[i,m]", "h[i,m]", "z[i,k] or z[i]", "f[i,k] or f[i]",
    ]  # fmt: skip


def test_deeper_networks_number_their_arrays_and_letters_from_the_output_inwards() -> None:
    notation = notation_for(DEEP)
    assert list(notation.arrays) == ["x", "y", "W1", "b1", "W2", "b2", "W3", "b3", "a3", "h3", "a2", "h2", "z", "f"]
    assert notation.allowed_names() == (
        "the arrays x, y, W1, b1, W2, b2, W3, b3, a3, h3, a2, h2, z, f; "
        "the index letters i (the samples), k (the outputs), m (the units of layer 2), q (the units of layer 3), j (the inputs)"
    )


def test_layer_functions_are_named_per_layer_when_the_layers_differ() -> None:
    assert list(notation_for(DEEP).layer_functions) == ["sigma", "sigma_prime", "sigma2", "sigma2_prime", "sigma3", "sigma3_prime", "g", "g_prime"]
    mixed = notation_for(MIXED)
    assert list(mixed.layer_functions) == ["sigma2", "sigma2_prime", "sigma3", "sigma3_prime", "g", "g_prime"]
    layers = mixed.model.parameter_layers
    assert [mixed.function_name(layer) for layer in layers] == ["g", "sigma2", "sigma3"]
    assert [mixed.function_name(layer, prime=True) for layer in layers] == ["g_prime", "sigma2_prime", "sigma3_prime"]


def test_the_forward_pass_is_written_in_the_notation() -> None:
    assert notation_for(TANH).definitions() == (
        "a[i,m] = b2[m] + sum(W2[m,j]*x[i,j], j)",
        "h[i,m] = sigma(a[i,m])",
        "z[i] = b1 + sum(W1[m]*h[i,m], m)",
        "f[i] = g(z[i])",
    )
    assert notation_for(MIXED).definitions()[-2:] == ("z[i,k] = b1[k] + sum(W1[k,m]*h2[i,m], m)", "f[i,k] = g(z[i,k])")


def test_sigma_prime_in_its_value_form_is_named() -> None:
    notation = notation_for(TANH)
    h = notation.arrays["h"].base[notation.arrays["h"].slots]
    assert notation.quantity_text(1 - h**2) == "sigma_prime(a[i,m])"
    assert notation.quantity_text(h) == "h[i,m]"


def test_parameters_are_checked() -> None:
    assert notation_for(TANH).parameter(" W2 ") == "W2"
    with pytest.raises(SpecError, match="unknown parameter 'W3': choose one of W1, b1, W2, b2"):
        notation_for(TANH).parameter("W3")
