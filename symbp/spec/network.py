"""The network specification: what the user chose, validated once (the spec stage of ARCHITECTURE.md).

A :class:`Spec` fixes everything the derivation depends on: the hidden layer
sizes, the activation σ of each hidden layer, the output function g, the loss,
the L2 penalty, the input size p (or leaves it symbolic) and the output size
d.  It is validated once, here, so that every later stage can trust it.

Layers are numbered from the output inwards, as in the notation: A¹ is the
output layer, A² the hidden layer below it, and so on; the first hidden layer
(the one that reads x) is A^{L+1} for L hidden layers.  ``hidden`` lists the
hidden sizes from the input towards the output, as one would draw the network:
``hidden=(16, 8)`` gives A³: ℝᵖ → ℝ¹⁶, A²: ℝ¹⁶ → ℝ⁸ and A¹: ℝ⁸ → ℝᵈ.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from symbp.errors import SpecError
from symbp.spec.functions import SOFTMAX, Function, activation, output_function

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: The largest number of hidden layers.  Deriving and emitting cost about 0.1 s per layer, but the
#: LaTeX document grows with the square of the depth (one section per parameter, each with the chain
#: rule down to it): at 100 hidden layers it has some 200 sections and thousands of pages.
MAX_HIDDEN_LAYERS = 100


class Loss(enum.Enum):
    """The loss ℓ(y, f) summed over samples and outputs."""

    QUADRATIC = "quadratic"
    BCE = "bce"
    SOFTMAX = "softmax"


class Reduction(enum.Enum):
    """How R gathers the samples: their sum (the seed's R) or their mean (R divided by n)."""

    SUM = "sum"
    MEAN = "mean"


class DType(enum.Enum):
    """The floating-point type a kernel computes in: float64 (default) or float32 (opt-in, half the memory traffic)."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"


LOSS_NAMES = {"quadratic": Loss.QUADRATIC, "bce": Loss.BCE, "cross-entropy": Loss.BCE, "binary-cross-entropy": Loss.BCE,
              "softmax": Loss.SOFTMAX, "categorical-cross-entropy": Loss.SOFTMAX}


@dataclass(frozen=True)
class Spec:
    """One network f(x) = g(A¹(s(A²(… s(A^{L+1}(x)))))) and its loss R.

    Attributes:
        hidden: the hidden sizes, from the input towards the output (one entry: the M of the reference case).
        sigma: the activation of each hidden layer, in the same order as ``hidden``.
        g: the output function.
        inputs: p, or ``None`` to leave it symbolic (the kernels then accept any p).
        outputs: d, the output size (1 in the reference case).
        loss: quadratic (R = Σᵢ ‖yᵢ − f(xᵢ)‖²) or binary cross-entropy.
        l2: λ ≥ 0, the weight of the penalty λ Σ_l ‖W^l‖² (0: none).
        reduction: sum over the samples (default) or mean, R = (1/n) Σ_i … (the penalty is not divided).
        dtype: what the emitted kernel computes in, float64 (default) or float32; the derivation does not depend on it.
    """

    hidden: tuple[int, ...]
    sigma: tuple[Function, ...]
    g: Function
    inputs: int | None = None
    outputs: int = 1
    loss: Loss = Loss.QUADRATIC
    l2: float = 0.0
    reduction: Reduction = Reduction.SUM
    dtype: DType = DType.FLOAT64

    @property
    def mean(self) -> bool:
        """True when R is the mean over the samples (R divided by n)."""
        return self.reduction is Reduction.MEAN

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.hidden)

    @property
    def M(self) -> int:
        """The hidden size of a network with one hidden layer (the reference case)."""
        if self.depth != 1:
            raise SpecError(f"this network has {self.depth} hidden layers; M is only defined for one")
        return self.hidden[0]

    def size(self, layer: int) -> int:
        """The number of units of layer ``layer`` (1: the outputs d, 2 … L+1: the hidden layers)."""
        return self.outputs if layer == 1 else self.hidden[self.depth + 1 - layer]

    def activation(self, layer: int) -> Function:
        """σ of hidden layer ``layer`` (2 … L+1)."""
        return self.sigma[self.depth + 1 - layer]

    @property
    def uniform_sigma(self) -> bool:
        """True when every hidden layer has the same σ (it is then written σ, not σ_l)."""
        return len({s.text for s in self.sigma}) == 1

    @property
    def name(self) -> str:
        """A file-name-safe name for this spec, e.g. ``tanh_identity_m3``."""
        sigmas = [self.sigma[0]] if self.uniform_sigma else list(self.sigma)
        parts = [_function_slug(s) for s in sigmas] + [_function_slug(self.g), _sizes_slug(self.hidden)]
        if self.inputs is not None:
            parts.append(f"p{self.inputs}")
        if self.outputs != 1:
            parts.append(f"d{self.outputs}")
        if self.loss not in (Loss.QUADRATIC, Loss.SOFTMAX):  # softmax is in the name already, as g
            parts.append(self.loss.value)
        if self.l2:
            parts.append("l2_" + _number_slug(self.l2))
        if self.mean:
            parts.append("mean")
        if self.dtype is DType.FLOAT32:
            parts.append("f32")
        return "_".join(parts)

    def hidden_text(self) -> str:
        """The hidden sizes as typed on the command line: ``3`` or ``16,8``."""
        return ",".join(map(str, self.hidden))

    def sigma_text(self) -> str:
        """The activations as typed on the command line: ``tanh`` or ``relu,tanh``."""
        return self.sigma[0].text if self.uniform_sigma else ",".join(s.text for s in self.sigma)

    def describe(self) -> str:
        """A one-line, human-readable statement of the spec (used in file headers)."""
        p = "symbolic" if self.inputs is None else str(self.inputs)
        size = f"M={self.hidden[0]}" if self.depth == 1 else f"sizes {self.hidden_text()} (input to output)"
        text = f"hidden {size}, sigma={self.sigma_text()}, g={self.g.text}, inputs p={p}, outputs d={self.outputs}, loss={self.loss.value}"
        text += f", l2={self.l2!r}" if self.l2 else ""
        text += ", reduction=mean" if self.mean else ""
        return text + (f", dtype={self.dtype.value}" if self.dtype is not DType.FLOAT64 else "")

    def as_dict(self) -> dict[str, object]:
        """The spec as plain data (strings and numbers), e.g. for a kernel's ``SPEC``."""
        out: dict[str, object] = {
            "hidden": self.hidden[0] if self.depth == 1 else list(self.hidden),
            "sigma": self.sigma[0].text if self.uniform_sigma else [s.text for s in self.sigma],
            "g": self.g.text,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "loss": self.loss.value,
        }
        if self.l2:
            out["l2"] = self.l2
        if self.mean:
            out["reduction"] = self.reduction.value
        if self.dtype is not DType.FLOAT64:  # float64 kernels record no dtype: their SPEC lines stay as they were
            out["dtype"] = self.dtype.value
        return out


def _function_slug(fn: Function) -> str:
    if fn.is_named:
        return fn.name
    # From the text as typed (spaces aside): two spellings of one function are two specs.
    digest = hashlib.sha256("".join(fn.text.split()).encode()).hexdigest()[:8]
    return f"{fn.name}{digest}"


#: Longest hidden-size part of a name written size by size (m16x8); a deeper network's is abbreviated.
MAX_SIZES_SLUG = 40


def _sizes_slug(hidden: tuple[int, ...]) -> str:
    """m3, m16x8; for a network too deep to list its sizes in a file name, its depth and a digest: h32_1b2c3d4e."""
    slug = "m" + "x".join(map(str, hidden))
    if len(slug) <= MAX_SIZES_SLUG:
        return slug
    return f"h{len(hidden)}_" + hashlib.sha256(slug.encode()).hexdigest()[:8]


def _number_slug(value: float) -> str:
    """0.01 → 0p01, 1e-05 → 1em05: a number as letters, digits and no dot."""
    return repr(value).replace(".", "p").replace("-", "m").replace("+", "")


def make_spec(
    hidden: int | str | Sequence[int] = 3,
    sigma: str | Sequence[str] = "tanh",
    g: str = "identity",
    inputs: int | None = None,
    outputs: int = 1,
    loss: str | Loss = "quadratic",
    l2: float | str = 0.0,
    reduction: str | Reduction = "sum",
    dtype: str | DType = "float64",
) -> Spec:
    """Validate the user's choices and build a :class:`Spec`.

    Args:
        hidden: M, a positive integer, or the sizes of several hidden layers from the
            input towards the output, e.g. ``(16, 8)`` or ``"16,8"``.
        sigma: a name (identity, sigmoid, tanh, relu, softplus) or an expression in x;
            one for every hidden layer, or a sequence (or comma-separated text) with one per layer.
        g: a name (identity, sigmoid, tanh, exp) or an expression in x.
        inputs: p, a positive integer, or None for a symbolic p.
        outputs: d, a positive integer.
        loss: ``"quadratic"`` (default), ``"bce"`` (binary cross-entropy; needs g = sigmoid) or ``"softmax"``
            (categorical cross-entropy over d ≥ 2 classes; g is the softmax).
        l2: λ ≥ 0 for the penalty λ Σ_l ‖W^l‖² on the weights (biases are not penalised).
        reduction: ``"sum"`` (default, R = Σ_i …) or ``"mean"`` (R = (1/n) Σ_i …, the step sizes of other libraries).
        dtype: ``"float64"`` (default) or ``"float32"``: what the emitted kernel computes in (see the README's
            accuracy contract for float32); the derivation is the same for both.

    Raises:
        SpecError, ExpressionError: with one line naming the problem and the allowed choices.

    Example:
        >>> make_spec(hidden=3, sigma="tanh").name
        'tanh_identity_m3'
        >>> make_spec(hidden=(16, 8), outputs=2).name
        'tanh_identity_m16x8_d2'
        >>> make_spec(hidden=3, dtype="float32").name
        'tanh_identity_m3_f32'
    """
    sizes = _hidden_sizes(hidden)
    sigmas = _activations(sigma, len(sizes))
    chosen_loss = _loss(loss)
    spec = Spec(
        hidden=sizes,
        sigma=sigmas,
        g=_softmax_output(g, outputs) if chosen_loss is Loss.SOFTMAX else _output(g),
        inputs=None if inputs is None else _positive_int(inputs, "input size p"),
        outputs=_positive_int(outputs, "output size d"),
        loss=chosen_loss,
        l2=_penalty(l2),
        reduction=_reduction(reduction),
        dtype=_dtype(dtype),
    )
    if spec.loss is Loss.BCE and spec.g.name != "sigmoid":
        raise SpecError(
            f"the cross-entropy loss needs f(x) in (0, 1): use --g sigmoid with --loss bce, not g={spec.g.text!r} "
            "(or --loss quadratic)"
        )
    return spec


def _output(g: object) -> Function:
    if isinstance(g, str) and g.strip().lower() == SOFTMAX.name:
        raise SpecError("g = softmax goes with the categorical cross-entropy: use --loss softmax (and --outputs d >= 2)")
    return output_function(g)  # type: ignore[arg-type]


def _softmax_output(g: object, outputs: object) -> Function:
    """The softmax, implied by the loss: g may be left as identity (the default) or named softmax."""
    if not (isinstance(g, str) and g.strip().lower() in ("identity", SOFTMAX.name)):
        raise SpecError(f"--loss softmax has g = softmax over the d outputs: leave --g out (or --g softmax), not g={g!r}")
    if _positive_int(outputs, "output size d") < 2:
        raise SpecError("--loss softmax classifies into d >= 2 classes: give --outputs d with d the number of classes")
    return SOFTMAX


def _hidden_sizes(hidden: object) -> tuple[int, ...]:
    if isinstance(hidden, str) and "," in hidden:
        items: list[object] = [part for part in hidden.split(",")]
    elif isinstance(hidden, (list, tuple)):
        items = list(hidden)
    else:
        items = [hidden]
    if not items:
        raise SpecError("hidden sizes must name at least one hidden layer, e.g. 3 or 16,8")
    if len(items) > MAX_HIDDEN_LAYERS:
        raise SpecError(
            f"{len(items)} hidden layers are more than the {MAX_HIDDEN_LAYERS} symbp derives "
            f"(its derivation's document grows with the square of the depth); give at most {MAX_HIDDEN_LAYERS} hidden sizes"
        )
    what = "hidden size M" if len(items) == 1 else "each hidden size"
    return tuple(_positive_int(item, what) for item in items)


def _activations(sigma: object, depth: int) -> tuple[Function, ...]:
    if isinstance(sigma, (list, tuple)):
        texts = list(sigma)
    elif isinstance(sigma, str) and depth > 1:
        texts = _top_level_split(sigma)
    else:
        texts = [sigma]
    if len(texts) == 1:
        texts = texts * depth
    if len(texts) != depth:
        raise SpecError(f"{len(texts)} activations for {depth} hidden layers: give one for all layers or one per layer")
    return tuple(activation(text) for text in texts)  # type: ignore[arg-type]


def _top_level_split(text: str) -> list[str]:
    """``"relu,max(x, 0)"`` → ``["relu", "max(x, 0)"]``: commas inside parentheses stay."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def _loss(loss: object) -> Loss:
    if isinstance(loss, Loss):
        return loss
    key = str(loss).strip().lower()
    if key not in LOSS_NAMES:
        raise SpecError(f"unknown loss {loss!r}: choose quadratic or bce (binary cross-entropy, with g = sigmoid)")
    return LOSS_NAMES[key]


def _reduction(reduction: object) -> Reduction:
    if isinstance(reduction, Reduction):
        return reduction
    key = str(reduction).strip().lower()
    if key not in {r.value for r in Reduction}:
        raise SpecError(f"unknown reduction {reduction!r}: choose sum (R = sum over the samples) or mean (R divided by n)")
    return Reduction(key)


def _dtype(dtype: object) -> DType:
    if isinstance(dtype, DType):
        return dtype
    key = str(dtype).strip().lower()
    if key not in {t.value for t in DType}:
        raise SpecError(f"unknown dtype {dtype!r}: choose float64 (default) or float32 (a kernel that computes in float32)")
    return DType(key)


def _penalty(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"the L2 weight lambda must be a number >= 0, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise SpecError(f"the L2 weight lambda must be a finite number >= 0, not {value!r}")
    return number


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
