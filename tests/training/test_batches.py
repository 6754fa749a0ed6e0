"""Tests for symbp/training/batches.py: one permutation per epoch, from a generator whose state can be saved and refused."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.errors import UserError
from symbp.training.batches import Batches


def test_each_epoch_is_a_fresh_permutation_taken_a_batch_at_a_time():
    batches = Batches.seeded(7, n_samples=10, batch_size=4)
    drawn = [batches.next() for _ in range(6)]
    assert [len(b) for b in drawn] == [4, 4, 2] * 2  # the last, partial batch is kept
    rng = np.random.default_rng(7)
    for epoch in (np.concatenate(drawn[:3]), np.concatenate(drawn[3:])):
        np.testing.assert_array_equal(epoch, rng.permutation(10))


def test_batches_go_on_from_a_saved_place_in_the_epoch():
    whole = Batches.seeded(3, n_samples=9, batch_size=4)
    first = [whole.next() for _ in range(2)]
    saved = (whole.rng.bit_generator.state, whole.order, whole.position)
    rest = [whole.next() for _ in range(5)]
    again = Batches(*saved, n_samples=9, batch_size=4)
    for got, want in zip([again.next() for _ in range(5)], rest):
        np.testing.assert_array_equal(got, want)
    assert len(first) == 2


@pytest.mark.parametrize(
    "state, fragment",
    [
        ({"bit_generator": "Mystery"}, "not the state of a numpy bit generator (bit_generator = 'Mystery')"),
        ("PCG64", "bit_generator = None"),
        ({"bit_generator": "PCG64", "state": {"state": "x"}}, "not a valid PCG64 state"),
    ],
)
def test_a_state_that_is_not_a_generators_is_refused(state, fragment):
    with pytest.raises(UserError) as info:
        Batches(state, None, 0, n_samples=5, batch_size=2)
    assert fragment in str(info.value) and "\n" not in str(info.value)
