"""The scheduling passes on one kernel body: contractions, in-place updates, shared CSE."""

from __future__ import annotations

import sympy as sp

from symbp.kernel.lower import Total, lower_kernel
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
        2: "numpy.dot(delta1, h.T)",  # the sums over the samples as soon as their operands are there
        3: "numpy.dot(delta1, _ones)",
        4: "W1.T * delta1",
        6: "numpy.dot(delta2, X)",
        7: "numpy.dot(delta2, _ones)",
    }


def test_each_sum_over_the_samples_follows_its_last_operand_and_the_answer_is_the_same(tmp_path, monkeypatch) -> None:
    import numpy as np

    from symbp import load_kernel
    from symbp.kernel import schedule as schedule_module
    from symbp.kernel.emit import emit

    scheduled = schedule(lowered(hidden=(4, 3, 2)).grad, blocked=True, unit_axes=UNIT)
    order = [op.target if isinstance(op, Total) else op.target.name for op in scheduled.operations]
    for layer in (2, 3, 4):  # gW^l and gb^l right after δ^l, before δ^{l+1}'s matrix product
        assert order.index(f"gW{layer}") == order.index(f"delta{layer}") + 1 and order.index(f"gb{layer}") == order.index(f"gW{layer}") + 1
    # Unblocked bodies keep the order of the programs.
    unblocked = schedule(lowered(hidden=(4, 3, 2)).grad, blocked=False, unit_axes=UNIT)
    assert [op.target if isinstance(op, Total) else op.target.name for op in unblocked.operations][-1] == "gb4"
    # The same bits as in the programs' order.
    derivation = derive(hidden=(4, 3, 2), inputs=3)
    early = load_kernel(emit(derivation, tmp_path, name="early"))
    monkeypatch.setattr(schedule_module, "sums_early", lambda operations: operations)
    late = load_kernel(emit(derivation, tmp_path, name="late"))
    assert "gW2 = numpy.dot(delta2, h3.T)\n    gb2" in (tmp_path / "early.py").read_text() and (tmp_path / "early.py").read_text() != (tmp_path / "late.py").read_text()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    params = early.init_params(3)
    (R1, g1), (R2, g2) = early.loss_and_grad(params, X, y), late.loss_and_grad(params, X, y)
    assert R1 == R2 and all(np.array_equal(g1[name], g2[name]) for name in params)


def test_a_bias_is_added_in_place_to_its_matrix_product() -> None:
    scheduled = schedule(lowered(hidden=3).forward, blocked=False, unit_axes=UNIT)
    assert scheduled.updates[1] == InPlaceUpdate("_c0", sp.IndexedBase("b2", real=True)[m])
    assert scheduled.updates[4].temporary == "_c1"


def test_a_product_is_not_updated_in_place() -> None:
    scheduled = schedule(lowered(hidden=3).grad, blocked=True, unit_axes=UNIT)
    assert 3 not in scheduled.updates  # δ² = (1 − h²) ⊙ _c0: measured slower in place
