"""The settings of a run, declared and checked once: the runner, ``symbp.train``, checkpoints, Dask and the CLI share them.

Example:
    >>> settings = RunSettings(steps=500, step_size="decay:0.1,100", patience=50)
    >>> settings.rule
    Decaying(gamma0=0.1, tau=100.0)
    >>> RunSettings(steps=-1)
    Traceback (most recent call last):
    ...
    symbp.errors.SpecError: steps must be an integer >= 0, got -1
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from symbp.errors import SpecError
from symbp.training.checks import as_int, is_finite_real
from symbp.training.rules import StepSize, parse_step_size

__all__ = ["DIVERGENCE_FACTOR", "MIN_IMPROVEMENT", "REQUIRED", "RUN_SETTINGS_KEYWORDS", "RunSettings", "settings_from"]

#: The divergence bound :func:`symbp.train` uses: a loss above 10⁶ · max(1, |R(a_0)|)
#: counts as diverged.  Gradient descent that works never comes near it (a
#: descent method lowers R; even a noisy mini-batch run rarely doubles it),
#: while a step size that is too large grows R geometrically and crosses it
#: within a few dozen steps, long before overflow turns it into inf or NaN.
DIVERGENCE_FACTOR = 1e6

#: The relative decrease of the best loss that counts as improvement for ``patience``.
MIN_IMPROVEMENT = 1e-10


@dataclass(frozen=True)
class RunSettings:
    """What a run does: how many steps, with which step-size rule, on which batches, and when it stops.

    The values are checked when the settings are made, with one-line messages.
    The defaults are those of :func:`symbp.train` and ``symbp train``; the bare
    runner's keywords default to no divergence bound instead (see
    :func:`~symbp.training.runner.run`).

    Attributes:
        steps: the most updates to apply (>= 0), counted from a_0 also when resuming.
        step_size: the step-size rule as given: a rule object, or its spelling for
            :func:`~symbp.training.rules.parse_step_size` (kept as typed, so that a
            checkpoint and its messages show it so).  Settings compare by ``rule``.
        batch_size: samples per batch; None (or >= the number of samples) is the full batch.
        seed: seeds the shuffling of mini-batches (and, in :func:`symbp.train`, a_0).
        grad_tol: stop once ‖∇R‖ is at most this.
        patience: steps without sufficient improvement before stopping; None never stops.
        min_improvement: relative decrease of the best loss that counts as improvement.
        divergence_factor: stop as diverged once the loss exceeds this multiple
            (>= 1) of max(1, |R(a_0)|); None checks only for infinities and NaN.
        rule: the step-size rule object (made from ``step_size``).

    Raises:
        SpecError: a value is invalid; the message names it.
    """

    steps: int = 1000
    step_size: StepSize | str | float = field(default="armijo", compare=False)
    batch_size: int | None = None
    seed: int = 0
    grad_tol: float = 0.0
    patience: int | None = None
    min_improvement: float = MIN_IMPROVEMENT
    divergence_factor: float | None = DIVERGENCE_FACTOR
    rule: StepSize = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Checked in this order, so that of several mistakes the same one is reported as always.
        store = object.__setattr__  # the normalised values (ints from numpy integers, the rule) of a frozen instance
        store(self, "rule", parse_step_size(self.step_size))
        store(self, "steps", as_int("steps", self.steps, 0))
        if self.patience is not None:
            store(self, "patience", as_int("patience", self.patience, 1))
        if not (is_finite_real(self.grad_tol) and self.grad_tol >= 0):
            raise SpecError(f"grad_tol must be a finite number >= 0, got {self.grad_tol!r}")
        if not (is_finite_real(self.min_improvement) and self.min_improvement >= 0):
            raise SpecError(f"min_improvement must be a finite number >= 0, got {self.min_improvement!r}")
        if self.divergence_factor is not None and not (is_finite_real(self.divergence_factor) and self.divergence_factor >= 1):
            raise SpecError(f"divergence_factor must be a finite number >= 1 or None, got {self.divergence_factor!r}")
        if self.batch_size is not None:
            store(self, "batch_size", as_int("batch_size", self.batch_size, 1))
        store(self, "seed", as_int("seed", self.seed, 0))

    def full_batch(self, n_samples: int | None) -> bool:
        """Whether every step sees all ``n_samples`` samples."""
        return self.batch_size is None or (n_samples is not None and self.batch_size >= n_samples)

    @property
    def step_size_spelling(self) -> str | None:
        """The step-size rule as typed, or as :func:`parse_step_size` reads it; None if it has no spelling."""
        if isinstance(self.step_size, str):
            return self.step_size
        return self.rule.spelling


#: The keywords that make up a RunSettings (``rule`` is made from ``step_size``).
RUN_SETTINGS_KEYWORDS = tuple(f.name for f in fields(RunSettings) if f.init)


class _Required:
    """The default of a setting a function needs unless it is given ``settings``."""

    def __repr__(self) -> str:
        return "<required without settings>"


#: The default of ``steps`` in :func:`~symbp.training.runner.run`: required, unless ``settings`` is given.
REQUIRED = _Required()


def settings_from(function: Callable[..., object], settings: RunSettings | None, keywords: dict[str, object]) -> RunSettings:
    """The settings of a call to ``function``, which takes them as ``settings=`` or as keywords (not both).

    Args:
        function: the function called; its signature holds the keywords' defaults.
        settings: the value given as ``settings=``, or None.
        keywords: the keywords of ``function`` that are fields of :class:`RunSettings`, as given
            (those it takes as ``**kwargs`` only when given).

    Returns:
        ``settings``, or settings made (and checked) from the keywords.

    Raises:
        TypeError: both were given, neither, or ``settings`` is not a RunSettings.
        SpecError: a keyword's value is invalid.
    """
    name = function.__name__
    if settings is None:
        missing = [key for key, value in keywords.items() if value is REQUIRED]
        if missing:
            raise TypeError(f"{name}() missing 1 required keyword-only argument: {missing[0]!r} (or give settings=RunSettings(...))")
        return RunSettings(**keywords)  # type: ignore[arg-type]
    if not isinstance(settings, RunSettings):
        raise TypeError(f"{name}(): settings must be a RunSettings, got {type(settings).__name__}")
    defaults = {key: parameter.default for key, parameter in inspect.signature(function).parameters.items()}
    # A keyword the signature does not name (one of **kwargs) counts as given whatever its value.
    given = sorted(key for key, value in keywords.items() if key not in defaults or (value is not defaults[key] and value != defaults[key]))
    if given:
        raise TypeError(f"{name}() takes its settings as settings= or as keywords, not both: {', '.join(given)} given beside settings")
    return settings
