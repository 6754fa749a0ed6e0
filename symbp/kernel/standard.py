"""The standard specs whose kernels are committed in generated/ (and checked by a golden test)."""

from __future__ import annotations

from symbp.symbolic.derivation import derive
from symbp.kernel.emit import render_kernel
from symbp.spec.network import Spec, make_spec

#: (hidden, sigma, g): sigmoid, tanh, relu, softplus with identity output; tanh with sigmoid output; one custom σ (SiLU).
STANDARD = (
    (3, "sigmoid", "identity"),
    (3, "tanh", "identity"),
    (3, "relu", "identity"),
    (3, "softplus", "identity"),
    (3, "tanh", "sigmoid"),
    (3, "x/(1+exp(-x))", "identity"),
)
#: Beyond the reference case (make_spec arguments): two outputs, two hidden layers, cross-entropy, softmax over three
#: classes, and the cross-entropy kernel computing in float32.
STANDARD_BEYOND = (
    {"hidden": 3, "sigma": "tanh", "g": "identity", "outputs": 2},
    {"hidden": (16, 8), "sigma": "tanh", "g": "identity"},
    {"hidden": 3, "sigma": "tanh", "g": "sigmoid", "loss": "bce"},
    {"hidden": 3, "sigma": "tanh", "loss": "softmax", "outputs": 3},
    {"hidden": 3, "sigma": "tanh", "g": "sigmoid", "loss": "bce", "dtype": "float32"},
)


def standard_specs() -> list[Spec]:
    return [make_spec(hidden=h, sigma=s, g=g) for h, s, g in STANDARD] + [make_spec(**kwargs) for kwargs in STANDARD_BEYOND]


def standard_kernels() -> dict[str, str]:
    """File name → text of every standard kernel, as the current generator writes it."""
    return {f"{spec.name}.py": render_kernel(derive(spec=spec)) for spec in standard_specs()}
