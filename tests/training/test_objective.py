"""The objective's answer checked once per step: the usual answer fast, anything else converted or refused with one line."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.errors import UserError
from symbp.training.objective import evaluate
from symbp.training.packing import Packing

PARAMS = {"W": np.zeros((2, 2)), "b": np.zeros(2)}


def test_the_usual_answer_is_packed_in_the_parameters_order() -> None:
    answer = evaluate(lambda p, batch: (1.5, {"b": np.ones(2), "W": np.full((2, 2), 2.0)}), PARAMS, None, Packing.of(PARAMS))
    assert answer.loss == 1.5 and answer.norm_sq == 4 * 4 + 2
    np.testing.assert_array_equal(answer.packed, [2, 2, 2, 2, 1, 1])


def test_lists_are_converted() -> None:
    answer = evaluate(lambda p, batch: (np.float64(1.0), {"W": [[1, 1], [1, 1]], "b": [0, 0]}), PARAMS, None, Packing.of(PARAMS))
    assert answer.norm_sq == 4.0


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([1.0, {}], "must return (loss, grad dict)"),
        ((1.0, {"W": np.zeros((2, 2))}), "missing ['b']"),
        ((1.0, {"W": np.zeros((2, 2)), "b": np.zeros(3)}), "gradient 'b' has shape (3,)"),
        (("high", {"W": np.zeros((2, 2)), "b": np.zeros(2)}), "loss must be a scalar"),
    ],
)
def test_answers_that_do_not_fit_are_refused(answer, message) -> None:
    with pytest.raises(UserError) as info:
        evaluate(lambda p, batch: answer, PARAMS, None, Packing.of(PARAMS))
    assert message in str(info.value) and "\n" not in str(info.value)
