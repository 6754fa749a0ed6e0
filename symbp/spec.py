"""The network specification: the first stage of the pipeline.

A :class:`Spec` fixes everything the derivation depends on: the hidden size M,
the activation σ, the output function g, the input size p (or leaves it
symbolic) and the output size d.  It is validated once, here, so that every
later stage can trust it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from symbp.errors import SpecError
from symbp.expressions import Function, activation, output_function

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Spec:
    """One network f(x) = g(A¹(s(A²(x)))) and its loss R = Σᵢ ‖yᵢ − f(xᵢ)‖².

    Attributes:
        hidden: M, the number of hidden units.
        sigma: the activation σ (named or an expression in x).
        g: the output function.
        inputs: p, or ``None`` to leave it symbolic (the kernels then accept any p).
        outputs: d, the output size (1 in the reference case).
    """

    hidden: int
    sigma: Function
    g: Function
    inputs: int | None = None
    outputs: int = 1

    @property
    def name(self) -> str:
        """A file-name-safe name for this spec, e.g. ``tanh_identity_m3``."""
        parts = [_function_slug(self.sigma), _function_slug(self.g), f"m{self.hidden}"]
        if self.inputs is not None:
            parts.append(f"p{self.inputs}")
        if self.outputs != 1:
            parts.append(f"d{self.outputs}")
        return "_".join(parts)

    def describe(self) -> str:
        """A one-line, human-readable statement of the spec (used in file headers)."""
        p = "symbolic" if self.inputs is None else str(self.inputs)
        return f"hidden M={self.hidden}, sigma={self.sigma.text}, g={self.g.text}, inputs p={p}, outputs d={self.outputs}, loss=quadratic"

    def as_dict(self) -> dict[str, object]:
        """The spec as plain data (strings and integers), e.g. for a kernel's ``SPEC``."""
        return {
            "hidden": self.hidden,
            "sigma": self.sigma.text,
            "g": self.g.text,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "loss": "quadratic",
        }


def _function_slug(fn: Function) -> str:
    if fn.is_named:
        return fn.name
    # From the text as typed (spaces aside): two spellings of one function are two specs.
    digest = hashlib.sha256("".join(fn.text.split()).encode()).hexdigest()[:8]
    return f"{fn.name}{digest}"


def make_spec(
    hidden: int = 3,
    sigma: str = "tanh",
    g: str = "identity",
    inputs: int | None = None,
    outputs: int = 1,
) -> Spec:
    """Validate the user's choices and build a :class:`Spec`.

    Args:
        hidden: M, a positive integer.
        sigma: a name (identity, sigmoid, tanh, relu, softplus) or an expression in x.
        g: a name (identity, sigmoid, tanh, exp) or an expression in x.
        inputs: p, a positive integer, or None for a symbolic p.
        outputs: d, a positive integer.

    Raises:
        SpecError, ExpressionError: with one line naming the problem and the allowed choices.

    Example:
        >>> make_spec(hidden=3, sigma="tanh").name
        'tanh_identity_m3'
    """
    return Spec(
        hidden=_positive_int(hidden, "hidden size M"),
        sigma=activation(sigma),
        g=output_function(g),
        inputs=None if inputs is None else _positive_int(inputs, "input size p"),
        outputs=_positive_int(outputs, "output size d"),
    )


MAX_SIZE = 100_000


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{what} must be a positive integer, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+]?\d+", text):
            raise SpecError(f"{what} must be a positive integer, not {value!r}")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise SpecError(f"{what} must be a positive integer, not {value!r}")
    if value <= 0:
        raise SpecError(f"{what} must be a positive integer (1, 2, 3, ...), not {value}")
    if value > MAX_SIZE:
        raise SpecError(f"{what} = {value} is larger than the {MAX_SIZE} symbp supports")
    return value
