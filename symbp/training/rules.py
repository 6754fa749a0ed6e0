"""Step-size rules: how a run chooses γ_l in a_{l+1} = a_l − γ_l ∇R(a_l).

A rule is a small frozen dataclass with one method the runner calls at every
step, :meth:`take`.  The runner hands it a :class:`Descent` (R and ‖g‖² at a_l
and the points a_l − γ g, evaluated on the step's batch when the rule asks) and
gets back the :class:`Move` the rule chose, or None when it found no acceptable
step.  :func:`parse_step_size` turns the command-line spelling into a rule.

A new rule is one more dataclass here with a ``take`` method, and its spelling
in :func:`parse_step_size`.

Example:
    >>> parse_step_size("decay:0.1,100").gamma(100)
    0.05
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from symbp.errors import SpecError
from symbp.training.checks import is_finite_real

if TYPE_CHECKING:
    from symbp.training.objective import Answer
    from symbp.training.state import Params

__all__ = ["Adam", "Armijo", "Constant", "Decaying", "Descent", "Momentum", "Move", "StepSize", "parse_step_size"]


#: The step a rule chose, a_{l+1} = a_l − γ g: (γ, a_{l+1} as one flat vector, a_{l+1} as the
#: parameters' views into it, R and ∇R at a_{l+1} on the step's batch when the rule evaluated it (a line
#: search) or None).  On the full batch the runner reuses an evaluation, and hands its γ back as
#: ``Descent.last_gamma``.  A plain tuple, not a named one: one is made at every step, and a named
#: tuple costs several times as much to make.
Move = tuple[float, np.ndarray, "Params", "Answer | None"]


class Descent(Protocol):
    """What the runner hands a rule at step l: where the run is, and the points it may move to."""

    #: l, the number of updates applied so far
    step: int
    #: the γ of the last move a rule evaluated (a line search's accepted γ); None before the first
    last_gamma: float | None

    @property
    def loss(self) -> float:
        """R(a_l) on the step's batch."""

    @property
    def norm_sq(self) -> float:
        """‖∇R(a_l)‖² on the step's batch."""

    #: what a rule with a memory keeps between steps (flat arrays and numbers); the runner saves it with the run
    memory: dict[str, Any]

    @property
    def gradient(self) -> np.ndarray:
        """∇R(a_l) on the step's batch, as one flat vector in the parameters' order."""

    def move(self, gamma: float) -> Move:
        """a_l − γ g, not evaluated."""

    def trial(self, gamma: float) -> tuple[Move, float]:
        """a_l − γ g evaluated on the same batch as g, and R there."""

    def shift(self, update: np.ndarray, gamma: float) -> Move:
        """a_l + u for an update u the rule computed (its history row records γ), not evaluated."""


def _require_positive(rule: str, name: str, value: float) -> None:
    if not (is_finite_real(value) and value > 0):
        raise SpecError(f"{rule}: {name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Constant:
    """The same step size γ_l = gamma at every step.

    Example: ``Constant(0.01)``; on the command line ``constant:0.01`` or ``0.01``.
    """

    gamma: float

    def __post_init__(self) -> None:
        _require_positive("Constant", "gamma", self.gamma)

    def take(self, descent: Descent) -> Move:
        """Step by γ = gamma."""
        return descent.move(self.gamma)

    @property
    def spelling(self) -> str:
        """The rule as :func:`parse_step_size` reads it."""
        return f"constant:{float(self.gamma)!r}"


@dataclass(frozen=True)
class Decaying:
    """A step size that shrinks with the step index: γ_l = gamma0 / (1 + l / tau).

    Example: ``Decaying(0.1, 100)`` halves γ after 100 steps; ``decay:0.1,100``.
    """

    gamma0: float
    tau: float

    def __post_init__(self) -> None:
        _require_positive("Decaying", "gamma0", self.gamma0)
        _require_positive("Decaying", "tau", self.tau)

    def gamma(self, step: int) -> float:
        """Return γ_l for step index ``step`` (counting from 0)."""
        return self.gamma0 / (1.0 + step / self.tau)

    def take(self, descent: Descent) -> Move:
        """Step by γ_l for this step's index l."""
        return descent.move(self.gamma(descent.step))

    @property
    def spelling(self) -> str:
        """The rule as :func:`parse_step_size` reads it."""
        return f"decay:{float(self.gamma0)!r},{float(self.tau)!r}"


@dataclass(frozen=True)
class Armijo:
    """Backtracking line search with the Armijo (sufficient decrease) condition.

    Each step tries γ = min(gamma0, grow · last accepted γ) (gamma0 at the first
    step) and multiplies it by ``shrink`` until
    R(a − γ g) <= R(a) − c γ ‖g‖², at most ``max_backtracks`` times.  On a
    mini-batch the trial points are evaluated on the same batch as g.

    The trial must also lower the loss strictly, which differs from the plain
    condition only where c γ ‖g‖² is below rounding.  When no γ passes (on a
    smooth objective, once the loss is as low as floating point can resolve),
    :func:`~symbp.training.runner.run` stops with ``StopReason.NO_IMPROVEMENT``
    on the full batch and skips the step on a mini-batch.

    Example: ``Armijo()`` or ``Armijo(gamma0=0.5)``; ``armijo`` or ``armijo:0.5``.
    """

    gamma0: float = 1.0
    c: float = 1e-4
    shrink: float = 0.5
    grow: float = 2.0
    max_backtracks: int = 60

    def __post_init__(self) -> None:
        _require_positive("Armijo", "gamma0", self.gamma0)
        if not (is_finite_real(self.c) and 0 < self.c < 1):
            raise SpecError(f"Armijo: c must lie strictly between 0 and 1, got {self.c!r}")
        if not (is_finite_real(self.shrink) and 0 < self.shrink < 1):
            raise SpecError(f"Armijo: shrink must lie strictly between 0 and 1, got {self.shrink!r}")
        if not (is_finite_real(self.grow) and self.grow >= 1):
            raise SpecError(f"Armijo: grow must be a finite number >= 1, got {self.grow!r}")
        if isinstance(self.max_backtracks, bool) or not isinstance(self.max_backtracks, int) or self.max_backtracks < 0:
            raise SpecError(f"Armijo: max_backtracks must be an integer >= 0, got {self.max_backtracks!r}")

    def take(self, descent: Descent) -> Move | None:
        """Backtrack from γ = min(gamma0, grow · last γ); the first trial that passes, or None."""
        gamma = self.gamma0 if descent.last_gamma is None else min(self.gamma0, self.grow * descent.last_gamma)
        loss, norm_sq = descent.loss, descent.norm_sq
        for _ in range(self.max_backtracks + 1):
            trial, trial_loss = descent.trial(gamma)
            # `<=` is False for NaN, so a trial that blows up just backtracks.  The strict
            # `<` matters only when c·γ·‖g‖² vanishes in rounding: then `<=` alone would
            # accept points that do not lower the loss, and the run would stall there.
            if trial_loss <= loss - self.c * gamma * norm_sq and trial_loss < loss:
                return trial
            gamma *= self.shrink
        return None

    @property
    def spelling(self) -> str | None:
        """The rule as :func:`parse_step_size` reads it; None when c, shrink, grow or max_backtracks are not the defaults."""
        if (self.c, self.shrink, self.grow, self.max_backtracks) != (1e-4, 0.5, 2.0, 60):
            return None
        return "armijo" if self.gamma0 == 1.0 else f"armijo:{float(self.gamma0)!r}"


@dataclass(frozen=True)
class Momentum:
    """Gradient descent with (heavy-ball) momentum: v_{l+1} = mu v_l − γ g_l, a_{l+1} = a_l + v_{l+1}, v_0 = 0.

    With ``nesterov`` the step looks ahead along the new velocity, as scikit-learn's MLP does:
    a_{l+1} = a_l + mu v_{l+1} − γ g_l.  The velocity is the rule's memory: it is saved with
    the run, so a resumed run goes on exactly.

    Example: ``Momentum(0.01, 0.9)``; ``momentum:0.01,0.9`` (mu 0.9 when left out), ``nesterov:0.01,0.9``.
    """

    gamma: float
    mu: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        name = "Nesterov" if self.nesterov else "Momentum"
        _require_positive(name, "gamma", self.gamma)
        if not (is_finite_real(self.mu) and 0 <= self.mu < 1):
            raise SpecError(f"{name}: mu must lie in [0, 1), got {self.mu!r}")

    def take(self, descent: Descent) -> Move:
        """One step along the updated velocity."""
        gradient = descent.gradient
        velocity = descent.memory.get("velocity")
        velocity = -self.gamma * gradient if velocity is None else self.mu * velocity - self.gamma * gradient
        descent.memory["velocity"] = velocity
        update = self.mu * velocity - self.gamma * gradient if self.nesterov else velocity
        return descent.shift(update, self.gamma)

    @property
    def spelling(self) -> str:
        """The rule as :func:`parse_step_size` reads it."""
        return f"{'nesterov' if self.nesterov else 'momentum'}:{float(self.gamma)!r},{float(self.mu)!r}"


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected moments, as scikit-learn's and PyTorch's:

    m_t = β₁ m_{t−1} + (1 − β₁) g, v_t = β₂ v_{t−1} + (1 − β₂) g², γ_t = γ √(1 − β₂ᵗ)/(1 − β₁ᵗ),
    a_{l+1} = a_l − γ_t m_t / (√v_t + ε).  The moments and t are the rule's memory, saved with the run.

    Example: ``Adam(0.001)``; ``adam:0.001`` or ``adam:0.001,0.9,0.999,1e-8``.
    """

    gamma: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _require_positive("Adam", "gamma", self.gamma)
        _require_positive("Adam", "eps", self.eps)
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (is_finite_real(value) and 0 <= value < 1):
                raise SpecError(f"Adam: {name} must lie in [0, 1), got {value!r}")

    def take(self, descent: Descent) -> Move:
        """One step along the bias-corrected first moment, scaled by the second."""
        gradient, memory = descent.gradient, descent.memory
        t = memory.get("t", 0) + 1
        first = memory.get("first")
        second = memory.get("second")
        first = (1 - self.beta1) * gradient if first is None else self.beta1 * first + (1 - self.beta1) * gradient
        second = (1 - self.beta2) * gradient**2 if second is None else self.beta2 * second + (1 - self.beta2) * gradient**2
        memory.update(t=t, first=first, second=second)
        gamma = self.gamma * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        return descent.shift(-gamma * first / (np.sqrt(second) + self.eps), float(gamma))

    @property
    def spelling(self) -> str:
        """The rule as :func:`parse_step_size` reads it."""
        return f"adam:{float(self.gamma)!r},{float(self.beta1)!r},{float(self.beta2)!r},{float(self.eps)!r}"


StepSize = Constant | Decaying | Armijo | Momentum | Adam

#: Each spelling's kind → how many numbers it takes, and the rule those numbers make.  A new rule
#: is one more entry here (and one more class above).
_SPELLINGS: dict[str, tuple[tuple[int, ...], Callable[..., StepSize]]] = {
    "constant": ((1,), Constant),
    "decay": ((2,), Decaying),
    "armijo": ((0, 1), Armijo),
    "momentum": ((1, 2), Momentum),
    "nesterov": ((1, 2), lambda *values: Momentum(*values, nesterov=True)),
    "adam": ((0, 1, 4), Adam),
}

#: How the spellings read, for messages and the command line's help.
STEP_SIZE_FORMS = (
    "'armijo', 'armijo:GAMMA0', 'constant:GAMMA', a bare number GAMMA, 'decay:GAMMA0,TAU', "
    "'momentum:GAMMA[,MU]', 'nesterov:GAMMA[,MU]' or 'adam[:GAMMA[,BETA1,BETA2,EPS]]'"
)


def parse_step_size(text: str | float | StepSize) -> StepSize:
    """Turn the command-line spelling of a step-size rule into a rule object.

    Args:
        text: ``"armijo"``, ``"armijo:0.5"`` (γ0), ``"constant:0.01"`` or a bare
            number (``"0.01"`` or ``0.01``), ``"decay:0.1,100"`` (γ0, τ),
            ``"momentum:0.01,0.9"`` (γ, μ; μ 0.9 when left out), ``"nesterov:0.01,0.9"``,
            ``"adam"``, ``"adam:0.001"`` or ``"adam:0.001,0.9,0.999,1e-8"`` (γ, β₁, β₂, ε); a rule
            object is returned unchanged.  Case and surrounding spaces are ignored.

    Returns:
        The :class:`Constant`, :class:`Decaying`, :class:`Armijo`, :class:`Momentum` or :class:`Adam` rule.

    Raises:
        SpecError: the text is none of the forms above or a number is not positive.

    Example:
        >>> parse_step_size("decay:0.1,100")
        Decaying(gamma0=0.1, tau=100.0)
    """
    if isinstance(text, StepSize):
        return text
    bad = SpecError(f"invalid step size {text!r}: use {STEP_SIZE_FORMS}, with positive finite numbers")
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        values, kind = [float(text)], "constant"
    elif isinstance(text, str):
        kind, sep, rest = text.strip().lower().partition(":")
        kind = kind.strip()
        try:
            if not sep and kind not in _SPELLINGS:
                values, kind = [float(kind)], "constant"  # a bare number
            else:
                values = [float(part) for part in rest.split(",")] if sep else []
        except ValueError:
            raise bad from None
    else:
        raise bad
    if not all(math.isfinite(x) and x > 0 for x in values):
        raise bad
    arities, make = _SPELLINGS.get(kind, ((), None))
    if len(values) not in arities:
        raise bad
    return make(*values)
