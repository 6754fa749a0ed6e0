"""The scheduling passes on one kernel body: contractions, in-place updates, shared CSE."""

from __future__ import annotations

import sympy as sp

from symbp.kernel.lower import lower_kernel
from symbp.kernel.programs import kernel_programs
from symbp.kernel.schedule import InPlaceUpdate, schedule
from tests.helpers import derive
from symbp.symbolic.model import i, k, m

UNIT = frozenset({k})


def lowered(**spec):
    return lower_kernel(kernel_programs(derive(**spec)))


def test_the_loss_and_delta1_share_their_difference() -> None:
    scheduled = schedule(lowered(hidden=3).grad, blocked=True, unit_axes=UNIT)
    f, y = sp.IndexedBase("f", real=True), sp.IndexedBase("y", real=True)
    (temporary, definition), = scheduled.temporaries.items()
    assert str(temporary) == "_t0" and definition == f[i, k] - y[i, k]
    assert scheduled.bodies[0] == temporary**2  # R
    assert scheduled.bodies[1] == 2 * temporary  # δ¹ = 2(f − y)


def test_contractions_are_chosen_once() -> None:
    scheduled = schedule(lowered(hidden=3).grad, blocked=True, unit_axes=UNIT)
    assert scheduled.contractions == {
        2: "W1.T * delta1",
        4: "numpy.dot(delta1, h.T)",
        5: "numpy.dot(delta1, _ones)",
        6: "numpy.dot(delta2, X)",
        7: "numpy.dot(delta2, _ones)",
    }


def test_a_bias_is_added_in_place_to_its_matrix_product() -> None:
    scheduled = schedule(lowered(hidden=3).forward, blocked=False, unit_axes=UNIT)
    assert scheduled.updates[1] == InPlaceUpdate("_c0", sp.IndexedBase("b2", real=True)[m])
    assert scheduled.updates[4].temporary == "_c1"


def test_a_product_is_not_updated_in_place() -> None:
    scheduled = schedule(lowered(hidden=3).grad, blocked=True, unit_axes=UNIT)
    assert 3 not in scheduled.updates  # δ² = (1 − h²) ⊙ _c0: measured slower in place
