"""The counterexample as the report prints it."""

from __future__ import annotations

import numpy as np

from symbp.checker.verdict import Counterexample, Verdict


def test_a_counterexample_prints_sizes_values_and_both_gradients() -> None:
    example = Counterexample(
        sizes={"n": 1, "p": 1, "M": 1, "d": 1},
        X=np.array([[0.9]]),
        y=np.array([0.5]),
        params={"W1": np.array([[-0.7]]), "b1": np.array([-0.5]), "W2": np.array([[0.1]]), "b2": np.array([0.9])},
        component="W1[1,1]",
        index=(0, 0),
        user_value=-1.15904,
        derived_value=-2.31808,
    )
    assert example.lines() == [
        "counterexample (n = 1, p = 1, M = 1, d = 1):",
        "  x = [[0.9]]   y = [0.5]",
        "  W1 = [[-0.7]]   b1 = [-0.5]   W2 = [[0.1]]   b2 = [0.9]",
        "  dR/dW1[1,1]: yours = -1.159, derived = -2.318",
    ]


def test_verdicts_read_as_the_report_writes_them() -> None:
    assert [verdict.value.upper() for verdict in Verdict] == ["CORRECT", "CONSTANT FACTOR", "SIGN", "WRONG QUANTITY", "MISSING BIAS", "WRONG"]
