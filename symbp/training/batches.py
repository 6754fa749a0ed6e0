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

    __slots__ = ("rng", "order", "position", "n_samples", "batch_size")

    def __init__(self, rng_state: dict[str, Any], order: np.ndarray | None, position: int, n_samples: int, batch_size: int) -> None:
        self.rng = _generator(rng_state)
        self.order = None if order is None else np.array(order, copy=True)
        self.position = position
        self.n_samples = n_samples
        self.batch_size = batch_size

    @classmethod
    def seeded(cls, seed: int, n_samples: int, batch_size: int) -> Batches:
        """The batches of a run that starts afresh."""
        return cls(np.random.default_rng(seed).bit_generator.state, None, 0, n_samples, batch_size)

    def next(self) -> np.ndarray:
        """This step's batch of sample indices; a fresh permutation when the epoch is used up."""
        if self.order is None or self.position >= self.n_samples:
            self.order, self.position = self.rng.permutation(self.n_samples), 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position = min(self.position + self.batch_size, self.n_samples)
        return batch


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
