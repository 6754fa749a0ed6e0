"""Mini-batches: one permutation of the samples per epoch, taken a batch at a time, from a generator that can be saved."""

from __future__ import annotations

from typing import Any

import numpy as np

from symbp.errors import UserError

__all__ = ["Batches"]

# The bit generators numpy ships; a state naming anything else is refused rather than looked up.
_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "Philox": np.random.Philox,
                   "SFC64": np.random.SFC64, "MT19937": np.random.MT19937}


class Batches:
    """The mini-batches of a run, going on from a saved place in the epoch.

    One generator for the whole run, one permutation per epoch: epochs differ, runs repeat.
    The last, partial batch of an epoch is kept.

    Example:
        >>> batches = Batches.seeded(0, n_samples=5, batch_size=2)
        >>> [len(batches.next()) for _ in range(4)]
        [2, 2, 1, 2]
    """

    __slots__ = ("rng", "order", "position", "n_samples", "batch_size", "_before")

    def __init__(self, rng_state: dict[str, Any], order: np.ndarray | None, position: int, n_samples: int, batch_size: int) -> None:
        self.rng = _generator(rng_state)
        self.order = None if order is None else np.array(order, copy=True)
        self.position = position
        self.n_samples = n_samples
        self.batch_size = batch_size
        self._before: tuple[dict[str, Any] | None, np.ndarray | None, int] | None = None

    @classmethod
    def seeded(cls, seed: int, n_samples: int, batch_size: int) -> Batches:
        """The batches of a run that starts afresh."""
        return cls(np.random.default_rng(seed).bit_generator.state, None, 0, n_samples, batch_size)

    def next(self) -> np.ndarray:
        """This step's batch of sample indices; a fresh permutation when the epoch is used up."""
        # Where the draw starts, so that a run stopped in this step can be handed back from before it;
        # the generator's state is only read when it is about to move (once an epoch).
        self._before = (None, self.order, self.position)
        if self.order is None or self.position >= self.n_samples:
            self._before = (self.rng.bit_generator.state, self.order, self.position)
            self.order, self.position = self.rng.permutation(self.n_samples), 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position = min(self.position + self.batch_size, self.n_samples)
        return batch


    def place(self, before_last_draw: bool = False) -> dict[str, Any]:
        """The shuffling part of a runner state: the generator's state and the place in the epoch.

        Args:
            before_last_draw: where the last :meth:`next` started (for a step that must be taken again).
        """
        if before_last_draw and self._before is not None:
            rng, order, position = self._before
            return dict(rng=rng if rng is not None else self.rng.bit_generator.state, order=order, position=position)
        return dict(rng=self.rng.bit_generator.state, order=self.order, position=self.position)


def _generator(state: dict[str, Any]) -> np.random.Generator:
    """A generator that continues from a saved ``bit_generator.state``."""
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    if kind not in _BIT_GENERATORS:
        raise UserError(f"state.rng is not the state of a numpy bit generator (bit_generator = {kind!r})")
    bit_generator = _BIT_GENERATORS[kind]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise UserError(f"state.rng is not a valid {kind} state: {err}") from err
    return np.random.Generator(bit_generator)
