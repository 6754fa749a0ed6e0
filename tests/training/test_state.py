"""What a run hands back: the history row, the result's summary, and a state that must fit the run it resumes."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.errors import UserError
from symbp.training.state import HistoryRow, RunnerState, RunResult, StopReason, WatchRow, check_state


def test_a_history_row_unpacks_like_a_tuple() -> None:
    step, loss, grad_norm, gamma = HistoryRow(3, 1.5, 0.5, 0.1)
    assert (step, loss, grad_norm, gamma) == (3, 1.5, 0.5, 0.1)


def test_the_summary_says_how_many_steps_the_loss_and_why() -> None:
    history = (HistoryRow(0, 2.0, 1.0, 0.1), HistoryRow(1, 1.0, 0.5, 0.0))
    result = RunResult(params={}, history=history, reason=StopReason.MAX_STEPS, steps=1)
    assert result.summary() == "stopped after 1 steps with loss 1: reached the step limit"
    watched = RunResult(params={}, history=history, reason=StopReason.MAX_STEPS, steps=1, watched=(WatchRow("validation_loss", 1, 0.25),))
    assert watched.watched_loss("validation_loss") == 0.25 and watched.watched_loss("validation_loss", 0) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(step=2), "one row for each of the steps"),
        (dict(previous=None), "previous parameters are needed exactly when step > 0"),
        (dict(last_gamma=-1.0), "last_gamma must be a positive number"),
        (dict(memory={"velocity": np.zeros(3)}), "memory 'velocity' has shape (3,)"),
    ],
)
def test_a_state_that_cannot_belong_to_the_run_is_refused(change, message) -> None:
    good = dict(step=1, params={"a": np.zeros(2)}, previous={"a": np.zeros(2)}, history=(HistoryRow(0, 1.0, 1.0, 0.1),))
    check_state(RunnerState(**good), full_batch=True, n_samples=None)
    with pytest.raises(UserError, match="the runner state does not fit this run") as info:
        check_state(RunnerState(**{**good, **change}), full_batch=True, n_samples=None)
    assert message in str(info.value)
