"""The softmax output with the categorical cross-entropy: SymPy's factors against NumPy and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.symbolic.model import d, f, i, k, k_bound, y, z
from symbp.symbolic.softmax import k_norm, softmax_factors

D = 4


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def _cross_entropy(logits: np.ndarray, target: np.ndarray) -> float:
    return float(-np.sum(target * np.log(_softmax(logits))))


def _at(expr: sp.Expr, logits: np.ndarray, target: np.ndarray, **indices: int) -> float:
    """``expr`` for one sample, d = D, the given output indices, sums written out, f the softmax of the logits."""
    values = {d: D, **{sp.Symbol(name.replace("_", "'"), integer=True, positive=True): value for name, value in indices.items()}}
    expr = expr.xreplace(values).replace(lambda e: isinstance(e, sp.Sum), lambda e: e.doit())
    probabilities = _softmax(logits)
    numbers = {}
    for item in expr.atoms(sp.Indexed):
        column = int(item.indices[1]) - 1
        numbers[item] = {"z": logits, "f": probabilities, "y": target}[str(item.base.label)][column]
    return float(expr.xreplace(numbers).doit())


@pytest.fixture(scope="module")
def factors():
    return softmax_factors()


def test_the_chain_cancels_to_f_minus_y(factors) -> None:
    assert factors.dR_df == -y[i, k_bound] / f[i, k_bound]
    assert factors.df_dz == f[i, k_bound] * (sp.KroneckerDelta(k, k_bound) - f[i, k])
    assert factors.collapsed == f[i, k] * sp.Sum(y[i, k_bound], (k_bound, 1, d)) - y[i, k]
    assert factors.delta1 == f[i, k] - y[i, k]
    assert factors.loss_in_z == sp.log(sp.Sum(sp.exp(z[i, k_norm]), (k_norm, 1, d))) - sp.Sum(y[i, k_bound] * z[i, k_bound], (k_bound, 1, d))


def test_softmax_derivative_matches_finite_differences(factors) -> None:
    rng = np.random.default_rng(0)
    logits, target = rng.normal(size=D), np.eye(D)[2]
    step = 1e-6
    for column in range(D):
        moved = [logits.copy(), logits.copy()]
        moved[0][column] += step
        moved[1][column] -= step
        numeric = (_softmax(moved[0]) - _softmax(moved[1])) / (2 * step)
        for row in range(D):
            derived = _at(factors.df_dz, logits, target, k=column + 1, k_=row + 1)
            assert derived == pytest.approx(numeric[row], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("target", [np.eye(D)[1], np.array([0.1, 0.2, 0.3, 0.4])], ids=["one-hot", "distribution"])
def test_delta1_and_the_loss_in_z_match_numpy(factors, target) -> None:
    """δ¹ against finite differences of the cross-entropy, the uncancelled chain summed over k' alike, ℓ from z equal to −Σ y log f."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=D)
    step = 1e-6
    for column in range(D):
        moved = [logits.copy(), logits.copy()]
        moved[0][column] += step
        moved[1][column] -= step
        numeric = (_cross_entropy(moved[0], target) - _cross_entropy(moved[1], target)) / (2 * step)
        chain = sp.Sum(sp.Mul(*factors.chain), (k_bound, 1, d))
        for expr in (factors.delta1, factors.collapsed, chain):
            assert _at(expr, logits, target, k=column + 1) == pytest.approx(numeric, rel=1e-6)
    assert _at(factors.loss_in_z, logits, target) == pytest.approx(_cross_entropy(logits, target), rel=1e-12)


def test_a_wrong_delta_is_caught(factors) -> None:
    logits, target = np.array([0.3, -1.0, 2.0, 0.5]), np.eye(D)[0]
    wrong = factors.delta1 * 2
    assert _at(wrong, logits, target, k=1) != pytest.approx(_at(factors.delta1, logits, target, k=1), rel=1e-3)
