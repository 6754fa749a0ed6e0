"""Tests for symbp/training/runner.py: generic gradient descent on quadratics and least squares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import assert_same_run, stop_after
from symbp.errors import SpecError, UserError
from symbp.training import (
    Armijo,
    Constant,
    Decaying,
    HistoryRow,
    Params,
    RunResult,
    StopReason,
    Watch,
    run,
)

# --- problems with a known minimiser -----------------------------------------------


def flatten(params: Params) -> np.ndarray:
    return np.concatenate([params[k].ravel() for k in sorted(params)])


def unflatten(vector: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> Params:
    out, start = {}, 0
    for k in sorted(shapes):
        size = math.prod(shapes[k])
        out[k] = vector[start : start + size].reshape(shapes[k])
        start += size
    return out


def quadratic(Q: np.ndarray, b: np.ndarray, shapes: dict[str, tuple[int, ...]]):
    """R(a) = ½ aᵀQa − bᵀa over the flattened params; returns (objective, minimiser)."""

    def objective(params: Params, batch: np.ndarray | None) -> tuple[float, Params]:
        assert batch is None
        a = flatten(params)
        Qa = Q @ a
        return float(0.5 * a @ Qa - b @ a), unflatten(Qa - b, shapes)

    return objective, unflatten(np.linalg.solve(Q, b), shapes)


# 6 unknowns spread over two arrays, so the runner must treat the dict as one vector.
SHAPES = {"W1": (2, 2), "b1": (2,)}
_M = np.random.default_rng(1).standard_normal((6, 6))
Q6 = _M @ _M.T + 0.5 * np.eye(6)
B6 = np.random.default_rng(2).standard_normal(6)
L6 = float(np.linalg.eigvalsh(Q6).max())


def start6() -> Params:
    return {"W1": np.zeros((2, 2)), "b1": np.zeros(2)}


def assert_params_close(got: Params, want: Params, atol: float) -> None:
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=atol, err_msg=k)


def least_squares(n: int = 40, d: int = 3, seed: int = 3):
    """R(w) = 1/(2|B|) Σ_{i∈B} (x_iᵀw − y_i)², noise-free so every batch gradient vanishes at w*."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_star = np.array([1.0, -2.0, 0.5])[:d]
    y = X @ w_star
    seen: list[np.ndarray | None] = []

    def objective(params: Params, batch: np.ndarray | None) -> tuple[float, Params]:
        seen.append(None if batch is None else batch.copy())
        rows = np.arange(n) if batch is None else batch
        r = X[rows] @ params["w"] - y[rows]
        return float(0.5 * r @ r / len(rows)), {"w": X[rows].T @ r / len(rows)}

    return objective, {"w": w_star}, seen


# --- each step rule converges --------------------------------------------------------


# A line search compares losses, so it can drive ‖g‖ only down to about
# √(L·ε·|R|) ≈ 1e-7 here; fixed steps need no comparison and go further.
@pytest.mark.parametrize(
    "rule, grad_tol, atol",
    [
        (Constant(1.0 / L6), 1e-10, 1e-9),
        (Decaying(1.5 / L6, 5000.0), 1e-10, 1e-9),
        (Armijo(), 1e-6, 1e-5),
        ("armijo:0.5", 1e-6, 1e-5),
    ],
)
def test_each_rule_converges_on_quadratic(rule, grad_tol, atol):
    objective, minimiser = quadratic(Q6, B6, SHAPES)
    result = run(objective, start6(), steps=20000, step_size=rule, grad_tol=grad_tol)
    assert result.reason is StopReason.GRAD_TOL
    assert_params_close(result.params, minimiser, atol=atol)
    assert result.params["W1"].shape == (2, 2) and result.params["b1"].shape == (2,)


@pytest.mark.parametrize("rule", [Constant(0.1), Decaying(0.2, 500.0), Armijo()])
def test_each_rule_converges_on_minibatch_least_squares(rule):
    objective, minimiser, _ = least_squares()
    result = run(
        objective, {"w": np.zeros(3)}, steps=6000, step_size=rule, n_samples=40, batch_size=8, seed=5
    )
    assert_params_close(result.params, minimiser, atol=1e-6)


# --- exact iterates and recorded step sizes ------------------------------------------

Q2 = np.array([[3.0, 1.0], [1.0, 2.0]])
B2 = np.array([1.0, 2.0])  # minimiser (0, 1)


def test_constant_step_reproduces_hand_computed_iterates():
    # a0 = 0, g0 = Qa0 − b = (−1, −2), a1 = a0 − ¼ g0 = (¼, ½);
    # g1 = (¼, −¾), a2 = a1 − ¼ g1 = (3/16, 11/16).  All dyadic, so exact in floating point.
    objective, _ = quadratic(Q2, B2, {"a": (2,)})
    one = run(objective, {"a": np.zeros(2)}, steps=1, step_size=Constant(0.25))
    two = run(objective, {"a": np.zeros(2)}, steps=2, step_size="constant:0.25")
    assert one.params["a"].tolist() == [0.25, 0.5]
    assert two.params["a"].tolist() == [0.1875, 0.6875]
    # R(a0) = 0, R(a1) = ½·15/16 − 5/4 = −25/32, ‖g0‖ = √5, ‖g1‖ = √(10/16)
    # R(a2) = ½·a2ᵀQa2 − bᵀa2 = ½(3/16·5/4 + 11/16·25/16) − 25/16 = −465/512
    assert [r.loss for r in two.history] == [0.0, -25 / 32, -465 / 512]
    assert [r.grad_norm for r in two.history[:2]] == [math.sqrt(5.0), math.sqrt(0.625)]
    assert [r.gamma for r in two.history] == [0.25, 0.25, 0.0]
    assert [r.step for r in two.history] == [0, 1, 2]


def test_decaying_records_gamma_formula():
    objective, _ = quadratic(Q6, B6, SHAPES)
    result = run(objective, start6(), steps=30, step_size="decay:0.1,10")
    assert len(result.history) == 31
    for row in result.history[:-1]:
        assert row.gamma == pytest.approx(0.1 / (1 + row.step / 10), rel=1e-15)
    assert result.history[10].gamma == pytest.approx(0.05)  # halved after τ steps
    assert result.history[-1].gamma == 0.0  # no step from the final point


# --- Armijo --------------------------------------------------------------------------

Q_ILL = np.diag([1.0, 100.0])
B_ILL = np.array([1.0, 1.0])  # minimiser (1, 0.01)


@pytest.mark.parametrize("c", [1e-4, 0.5])  # c = ½ forbids steps past the exact line minimum
def test_armijo_condition_holds_and_each_gamma_is_first_acceptable(c):
    objective, minimiser = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    rule = Armijo(gamma0=1.0, c=c, shrink=0.5, grow=2.0)
    result = run(objective, {"a": np.array([5.0, 5.0])}, steps=5000, step_size=rule, grad_tol=1e-6)
    assert result.reason is StopReason.GRAD_TOL
    assert_params_close(result.params, minimiser, atol=1e-6)

    # Replay the run: the iterates must match the history bit for bit, every
    # accepted γ must satisfy the Armijo condition, and γ/shrink must not (unless
    # γ was the first trial), i.e. the search did not stop early.
    a, last = np.array([5.0, 5.0]), None
    for row in result.history[:-1]:
        loss, grad = objective({"a": a}, None)
        g = grad["a"]
        assert loss == row.loss
        assert row.gamma > 0
        norm_sq = float(g @ g)
        new_loss = objective({"a": a - row.gamma * g}, None)[0]
        assert new_loss <= loss - rule.c * row.gamma * norm_sq and new_loss < loss
        first = rule.gamma0 if last is None else min(rule.gamma0, rule.grow * last)
        ratio = math.log(first / row.gamma, 1 / rule.shrink)
        assert ratio == pytest.approx(round(ratio)) and round(ratio) >= 0
        if row.gamma < first:
            bigger = row.gamma / rule.shrink
            bigger_loss = objective({"a": a - bigger * g}, None)[0]
            assert not (bigger_loss <= loss - rule.c * bigger * norm_sq and bigger_loss < loss)
        a, last = a - row.gamma * g, row.gamma
    np.testing.assert_array_equal(a, result.params["a"])


def test_armijo_converges_where_large_constant_step_diverges():
    objective, minimiser = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    # 2 / λ_max = 0.02; γ = 0.025 multiplies the stiff error component by −1.5 each step.
    with np.errstate(over="ignore", invalid="ignore"):
        bad = run(objective, {"a": np.zeros(2)}, steps=5000, step_size=Constant(0.025))
    assert bad.reason is StopReason.DIVERGED
    assert bad.history[50].loss > 1e10 * abs(bad.history[0].loss - bad.history[1].loss)
    good = run(objective, {"a": np.zeros(2)}, steps=5000, step_size=Armijo(gamma0=0.025), grad_tol=1e-6)
    assert good.reason is StopReason.GRAD_TOL
    assert_params_close(good.params, minimiser, atol=1e-6)


def test_minibatch_armijo_uses_the_step_batch_for_trial_points():
    objective, _, seen = least_squares(n=10)
    run(objective, {"w": np.zeros(3)}, steps=12, step_size="armijo", n_samples=10, batch_size=4, seed=9)
    # Collapse consecutive calls on the same batch: what is left is the batch
    # sequence, so every trial point was evaluated on its step's batch.
    distinct = [seen[0]] + [b for prev, b in zip(seen, seen[1:]) if not np.array_equal(prev, b)]
    assert len(seen) > len(distinct) == 13
    rng = np.random.default_rng(9)
    expected = [p[i : i + 4] for p in (rng.permutation(10) for _ in range(5)) for i in (0, 4, 8)]
    for got, want in zip(distinct, expected):
        np.testing.assert_array_equal(got, want)


# --- stop reasons --------------------------------------------------------------------


def test_stop_max_steps():
    objective, _ = quadratic(Q6, B6, SHAPES)
    result = run(objective, start6(), steps=3, step_size=Constant(0.01), patience=2)
    assert result.reason is StopReason.MAX_STEPS
    assert result.steps == 3 and len(result.history) == 4
    assert result.summary() == f"stopped after 3 steps with loss {result.history[-1].loss:.6g}: reached the step limit"


def test_stop_max_steps_zero_returns_a_copy():
    objective, _ = quadratic(Q6, B6, SHAPES)
    p0 = start6()
    result = run(objective, p0, steps=0)
    assert result.reason is StopReason.MAX_STEPS and result.steps == 0 and len(result.history) == 1
    assert not np.shares_memory(result.params["W1"], p0["W1"])


def test_stop_grad_tol_checked_before_stepping():
    objective, _ = quadratic(Q6, B6, SHAPES)
    result = run(objective, start6(), steps=10**6, step_size="armijo", grad_tol=1e-6)
    assert result.reason is StopReason.GRAD_TOL
    assert result.history[-1].grad_norm <= 1e-6 < result.history[-2].grad_norm
    assert result.history[-1].gamma == 0.0
    assert "gradient norm below tolerance" in result.summary()
    # Already at the minimiser: stop at once, no step taken.
    _, minimiser = quadratic(Q6, B6, SHAPES)
    at_min = run(objective, minimiser, steps=10, grad_tol=1e-8)
    assert at_min.reason is StopReason.GRAD_TOL and at_min.steps == 0


def test_stop_no_improvement():
    objective, _ = quadratic(Q6, B6, SHAPES)
    # A tiny step barely moves the loss: 5 steps after the start, stop.
    result = run(objective, start6(), steps=1000, step_size=Constant(1e-12), patience=5, min_improvement=1e-6)
    assert result.reason is StopReason.NO_IMPROVEMENT
    assert result.steps == 5
    assert "loss stopped improving" in result.summary()
    # A useful step keeps improving, so patience does not fire.
    improving = run(objective, start6(), steps=20, step_size=Constant(0.2 / L6), patience=5, min_improvement=1e-6)
    assert improving.reason is StopReason.MAX_STEPS


def scripted(losses: list[float]):
    """An objective whose loss at step l is losses[l] under Constant(1): a_l = l, ∇R = −1."""

    def objective(params: Params, batch) -> tuple[float, Params]:
        return losses[int(round(float(params["a"])))], {"a": np.array(-1.0)}

    return objective


@pytest.mark.parametrize(
    "losses, patience, min_improvement, stop_at",
    [
        # Best 10 → 5 at step 1, flat after: the window of 3 steps ending at 4 is the first without gain.
        ([10, 5, 5, 5, 5, 5, 5, 5], 3, 0.01, 4),
        # Threshold is relative: 0.01·|100| = 1, so a drop of 0.5 is no improvement...
        ([100, 100, 100, 99.5, 99.5, 99.5, 99.5], 3, 0.01, 3),
        # ...while a drop of 2 is.
        ([100, 100, 100, 98, 98, 98, 98, 98], 3, 0.01, 6),
        # Below |best| = 1 the threshold is 0.01 · 1, not 0.01 · 0.5: a drop of 0.008 is no gain.
        ([0.5, 0.496, 0.492, 0.488, 0.484], 2, 0.01, 2),
        # A new best that is not the latest loss still counts.
        ([10, 9, 20, 20, 20, 20], 2, 0.01, 3),
    ],
)
def test_no_improvement_window(losses, patience, min_improvement, stop_at):
    result = run(scripted(losses), {"a": np.array(0.0)}, steps=len(losses) - 1, step_size=1.0,
                 patience=patience, min_improvement=min_improvement)
    assert result.reason is StopReason.NO_IMPROVEMENT
    assert result.steps == stop_at
    assert [r.loss for r in result.history] == losses[: stop_at + 1]


def test_stop_no_improvement_when_line_search_fails():
    def uphill(params: Params, batch):  # a gradient with the wrong sign: no descent along −g
        a = params["a"]
        return float(a @ a), {"a": -2.0 * a}

    result = run(uphill, {"a": np.ones(2)}, steps=100, step_size=Armijo(max_backtracks=5))
    assert result.reason is StopReason.NO_IMPROVEMENT and result.steps == 0
    np.testing.assert_array_equal(result.params["a"], np.ones(2))


def test_armijo_stops_at_rounding_floor_instead_of_stalling():
    # With grad_tol = 0 the line search eventually finds no step that lowers the
    # loss in floating point; the run must say so rather than spin to the limit.
    objective, minimiser = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    result = run(objective, {"a": np.array([5.0, 5.0])}, steps=100_000, step_size="armijo")
    assert result.reason is StopReason.NO_IMPROVEMENT
    assert result.steps < 5000
    assert_params_close(result.params, minimiser, atol=1e-6)


def test_callback_sees_every_row():
    objective, _ = quadratic(Q6, B6, SHAPES)
    rows: list[HistoryRow] = []
    result = run(objective, start6(), steps=7, step_size="armijo", callback=rows.append)
    assert tuple(rows) == result.history and isinstance(result, RunResult)


# --- mini-batches --------------------------------------------------------------------


def test_minibatch_is_reproducible_and_depends_on_seed():
    def go(seed: int) -> RunResult:
        objective, _, _ = least_squares()
        return run(objective, {"w": np.zeros(3)}, steps=50, step_size=0.05, n_samples=40, batch_size=7, seed=seed)

    a, b, c = go(4), go(4), go(5)
    assert a.history == b.history
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], c.params["w"])
    assert a.history != c.history


def test_every_sample_visited_once_per_epoch():
    objective, _, seen = least_squares(n=10)
    run(objective, {"w": np.zeros(3)}, steps=9, step_size=0.01, n_samples=10, batch_size=4, seed=0)
    assert len(seen) == 10  # 9 steps plus the final evaluation
    assert [len(b) for b in seen[:9]] == [4, 4, 2] * 3  # the last partial batch is kept
    epochs = [np.concatenate(seen[i : i + 3]) for i in (0, 3, 6)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(10))
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh permutation each epoch
    rng = np.random.default_rng(0)
    for epoch in epochs:
        np.testing.assert_array_equal(epoch, rng.permutation(10))


def test_batch_size_at_least_n_samples_is_full_batch():
    objective, _, seen = least_squares(n=10)
    run(objective, {"w": np.zeros(3)}, steps=3, step_size=0.1, n_samples=10, batch_size=10)
    run(objective, {"w": np.zeros(3)}, steps=3, step_size=0.1, n_samples=10)
    assert seen == [None] * 8


# --- argument checks and purity ------------------------------------------------------


@pytest.mark.parametrize(
    "grad, fragment",
    [
        ({"W1": np.zeros((2, 2))}, "missing \\['b1'\\]"),
        ({"W1": np.zeros((2, 2)), "b1": np.zeros(2), "W2": np.zeros(1)}, "unexpected \\['W2'\\]"),
        ({"W1": np.zeros(4), "b1": np.zeros(2)}, "'W1' has shape \\(4,\\)"),
        ({"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1))}, "'b1' has shape \\(2, 1\\)"),
        ({"W1": [[0.0, 0.0]], "b1": np.zeros(2)}, "'W1' has shape \\(1, 2\\)"),  # a list, converted first
        ({"W1": "zero", "b1": np.zeros(2)}, "'W1' has shape \\(\\)"),
    ],
)
def test_gradient_must_match_params(grad, fragment):
    with pytest.raises(UserError, match=fragment):
        run(lambda p, b: (0.0, grad), start6(), steps=3)


@pytest.mark.parametrize("answer", [[1.0, {"a": np.ones(2)}], (1.0, {"a": np.ones(2)}, None), 1.0, (1.0, [np.ones(2)])])
def test_objective_must_return_a_tuple_of_loss_and_dict(answer):
    with pytest.raises(UserError, match="must return \\(loss, grad dict\\)"):
        run(lambda p, b: answer, {"a": np.zeros(2)}, steps=3)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # numpy.matrix, on purpose
def test_gradient_in_another_mapping_or_array_type_is_checked_and_converted():
    from collections import defaultdict

    lenient = defaultdict(lambda: np.zeros(2), {"W1": np.zeros((2, 2))})  # no b1, but reading it would make one
    with pytest.raises(UserError, match="missing \\['b1'\\]"):
        run(lambda p, b: (0.0, lenient), start6(), steps=3)
    assert set(lenient) == {"W1"}  # the objective's dict is read, never changed

    def objective(params, batch):  # R = ½‖W1‖² + ½‖b1‖², W1's gradient as a numpy.matrix
        return 0.5 * float(np.sum(params["W1"] ** 2) + params["b1"] @ params["b1"]), {"W1": np.matrix(params["W1"]), "b1": params["b1"]}

    result = run(objective, start6(), steps=3, step_size=0.5)
    assert type(result.params["W1"]) is np.ndarray and result.params["W1"].shape == (2, 2)
    np.testing.assert_allclose(result.params["W1"], start6()["W1"] / 8)


def test_gradient_given_as_lists_is_taken_like_arrays():
    def objective(params, batch):  # R = ½‖a − 1‖², its gradient as a list of numbers
        r = params["a"] - 1.0
        return 0.5 * float(r @ r), {"a": r.tolist()}

    result = run(objective, {"a": np.zeros(3)}, steps=50, step_size=0.5)
    np.testing.assert_allclose(result.params["a"], 1.0, atol=1e-12)
    step, loss, grad_norm, gamma = result.history[0]  # a history row is a named tuple
    assert (step, loss, gamma) == (0, 1.5, 0.5) and grad_norm == pytest.approx(math.sqrt(3))


def test_params0_not_mutated_and_run_is_deterministic():
    objective, _ = quadratic(Q6, B6, SHAPES)
    p0 = {"W1": np.arange(4.0).reshape(2, 2), "b1": np.array([1.0, -1.0])}
    saved = {k: v.copy() for k, v in p0.items()}
    first = run(objective, p0, steps=40, step_size="armijo")
    second = run(objective, p0, steps=40, step_size="armijo")
    for k in p0:
        np.testing.assert_array_equal(p0[k], saved[k])
        assert not np.shares_memory(first.params[k], p0[k])
        np.testing.assert_array_equal(first.params[k], second.params[k])
    assert first.history == second.history
    assert not np.array_equal(first.params["b1"], saved["b1"])  # it did move


# --- divergence ------------------------------------------------------------------------


def replay(objective, a0: np.ndarray, gammas: list[float]) -> list[np.ndarray]:
    """The iterates a_0, a_1, … of plain gradient descent with the given step sizes."""
    points = [a0]
    for gamma in gammas:
        points.append(points[-1] - gamma * objective({"a": points[-1]}, None)[1]["a"])
    return points


def test_divergence_bound_stops_and_returns_the_best_params_seen():
    # γ = 0.025 > 2/λ_max multiplies the stiff error by −1.5 a step: R grows like 2.25^l.
    objective, _ = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    a0 = np.array([1.0, 1.0])
    result = run(objective, {"a": a0}, steps=5000, step_size=Constant(0.025), divergence_factor=1e6)
    assert result.reason is StopReason.DIVERGED
    bound = 1e6 * max(1.0, abs(result.history[0].loss))
    *before, last = result.history
    assert last.loss > bound >= max(row.loss for row in before)  # stopped at the first crossing
    assert 10 < last.step < 100  # long before overflow (which takes ~870 steps)
    losses = [row.loss for row in result.history]
    best = int(np.argmin(losses))
    assert result.steps == result.best_step == best < last.step - 1  # the best point, not the last finite one
    points = replay(objective, a0, [0.025] * result.steps)
    np.testing.assert_array_equal(result.params["a"], points[-1])
    assert result.final_loss == min(losses) == objective(result.params, None)[0]
    summary = result.summary()
    assert "diverged" in summary and f"at step {last.step}" in summary and "exceeds" in summary
    assert f"kept the best parameters seen, those after {best} steps" in summary
    assert "smaller step size" in summary and "Armijo" in summary


def test_divergence_to_overflow_never_returns_nan_params():
    objective, _ = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    with np.errstate(over="ignore", invalid="ignore"):
        result = run(objective, {"a": np.ones(2)}, steps=5000, step_size=Constant(0.025))
    assert result.reason is StopReason.DIVERGED
    assert not math.isfinite(result.history[-1].loss) or not math.isfinite(result.history[-1].grad_norm)
    assert np.isfinite(result.params["a"]).all() and math.isfinite(result.final_loss)
    assert result.steps == result.best_step == int(np.nanargmin([row.loss for row in result.history]))
    diverged = len(result.history) - 1
    assert "not finite" not in result.detail and f"at step {diverged}" in result.detail


def test_divergence_on_non_finite_params_with_finite_loss():
    # A loss that saturates (tanh) stays finite when the parameters overflow to inf.
    def saturating(params: Params, batch):
        a = params["a"]
        return float(np.tanh(a).sum()), {"a": np.full_like(a, -10.0)}

    with np.errstate(over="ignore"):
        result = run(saturating, {"a": np.zeros(2)}, steps=10, step_size=Constant(1e308))
    assert result.reason is StopReason.DIVERGED and "parameters are not finite" in result.detail
    np.testing.assert_array_equal(result.params["a"], np.zeros(2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parameters_growing_past_the_largest_float_are_caught_at_once(dtype):
    # a_l = l · big/8 is finite up to a_8 = big and a_9 overflows, while the loss (tanh) stays finite:
    # the bound on max|a_i| that spares the look at a_l must hand over to that look in time.
    big = float(np.finfo(dtype).max)

    def saturating(params: Params, batch):
        a = params["a"]
        return float(np.tanh(a.astype(float)).sum()), {"a": np.full(a.shape, -1.0)}

    with np.errstate(over="ignore"):
        result = run(saturating, {"a": np.zeros(2, dtype)}, steps=100, step_size=Constant(big / 8))
    assert result.reason is StopReason.DIVERGED and "at step 9 the parameters are not finite" in result.detail
    # The best point seen is a_0 (tanh grows with a): the run hands it back, in its dtype.
    assert result.steps == 0 and result.params["a"].dtype == dtype
    np.testing.assert_array_equal(result.params["a"], np.zeros(2, dtype))


def test_a_narrow_gradient_overflowing_in_the_step_is_caught():
    # γg is computed in the gradient's float32 and overflows there (1e30 · 1e10 > 3.4e38), while γ‖g‖
    # in float64 stays far below float64's largest number: the bound alone would miss it.
    def saturating(params: Params, batch):
        return float(np.tanh(params["a"]).sum()), {"a": np.full(2, 1e10, np.float32)}

    with np.errstate(over="ignore"):
        result = run(saturating, {"a": np.zeros(2)}, steps=10, step_size=Constant(1e30))
    assert result.reason is StopReason.DIVERGED and "at step 1 the parameters are not finite" in result.detail
    np.testing.assert_array_equal(result.params["a"], np.zeros(2))


def test_divergence_at_the_start_returns_the_start():
    result = run(lambda p, b: (float("nan"), {"a": np.zeros(1)}), {"a": np.ones(1)}, steps=10, step_size=0.1)
    assert result.reason is StopReason.DIVERGED and result.steps == 0 and len(result.history) == 1
    np.testing.assert_array_equal(result.params["a"], np.ones(1))
    assert result.summary().startswith("diverged at the start")


def test_divergence_factor_does_not_stop_a_converging_run():
    objective, minimiser = quadratic(Q6, B6, SHAPES)
    plain = run(objective, start6(), steps=300, step_size=Constant(1.0 / L6))
    bounded = run(objective, start6(), steps=300, step_size=Constant(1.0 / L6), divergence_factor=1.0)
    assert plain.reason is bounded.reason is StopReason.MAX_STEPS
    assert plain.history == bounded.history


# --- stopping on request and going on: the state is a value -------------------------


def counting(objective):
    """The objective, and a list that grows by one on each call."""
    calls: list[None] = []

    def wrapped(params, batch):
        calls.append(None)
        return objective(params, batch)

    return wrapped, calls


RESUMABLE = {
    "full batch, Armijo": dict(step_size=Armijo(), steps=60),
    "full batch, decaying": dict(step_size="decay:0.3,20", steps=60),
    "mini-batch, constant": dict(step_size=0.05, steps=60, n_samples=40, batch_size=7, seed=4),
    "mini-batch, Armijo": dict(step_size="armijo", steps=60, n_samples=40, batch_size=8, seed=2),
    # Stops by patience after 29 steps: the window reaches back across the interruption.
    "mini-batch, patience": dict(step_size=0.05, steps=400, n_samples=40, batch_size=5, seed=1, patience=8, min_improvement=0.05),
    # Rules with a memory: the velocity, the moments and their step count go on from where they were.
    "full batch, momentum": dict(step_size="momentum:0.02,0.9", steps=60),
    "mini-batch, Nesterov": dict(step_size="nesterov:0.02,0.8", steps=60, n_samples=40, batch_size=8, seed=2),
    "full batch, Adam": dict(step_size="adam:0.05", steps=60),
}


@pytest.mark.parametrize("settings", RESUMABLE.values(), ids=RESUMABLE.keys())
@pytest.mark.parametrize("k", [1, 5, 6, 17])  # 5 and 6: either side of an epoch's end for batch 8 of 40
def test_interrupt_then_resume_equals_uninterrupted(settings, k):
    objective, _, _ = least_squares()
    whole_objective, whole_calls = counting(objective)
    whole = run(whole_objective, {"w": np.zeros(3)}, **settings)
    assert whole.steps > k  # the interruption happens inside the run

    first_objective, first_calls = counting(objective)
    first = run(first_objective, {"w": np.zeros(3)}, stop_requested=stop_after(k), **settings)
    assert first.reason is StopReason.INTERRUPTED and first.steps == k and len(first.history) == k
    assert first.state is not None and first.state.step == k and first.state.history == first.history
    assert "stopped on request after" in first.summary()
    resumed = run(first_objective, None, state=first.state, **settings)
    assert_same_run(resumed, whole)
    # Nothing is evaluated twice: the full-batch line search's last evaluation travels in the state.
    assert len(first_calls) == len(whole_calls)


def test_interrupt_repeatedly_equals_uninterrupted():
    settings = RESUMABLE["mini-batch, Armijo"]
    objective, _, _ = least_squares()
    whole = run(objective, {"w": np.zeros(3)}, **settings)
    result = run(objective, {"w": np.zeros(3)}, stop_requested=stop_after(3), **settings)
    hops = 1
    while result.reason is StopReason.INTERRUPTED:
        result = run(objective, None, state=result.state, stop_requested=stop_after(3), **settings)
        hops += 1
    assert hops > 10
    assert_same_run(result, whole)


def test_resume_on_quadratic_with_two_arrays_keeps_their_order():
    # ‖∇R‖² is summed in the order of the parameter names; the state keeps it.
    objective, _ = quadratic(Q6, B6, SHAPES)
    whole = run(objective, start6(), steps=40, step_size="armijo")
    first = run(objective, start6(), steps=40, step_size="armijo", stop_requested=stop_after(9))
    assert list(first.state.params) == ["W1", "b1"]
    assert_same_run(run(objective, None, steps=40, step_size="armijo", state=first.state), whole)


def test_stop_requested_is_asked_only_between_steps():
    objective, _ = quadratic(Q6, B6, SHAPES)
    asked = []
    result = run(objective, start6(), steps=4, step_size=0.01, stop_requested=lambda: asked.append(None) or False)
    assert result.reason is StopReason.MAX_STEPS and len(asked) == 4  # after each update, not before the first


def test_resume_divergence_right_after_interrupt_returns_the_best_point():
    objective, _ = quadratic(Q_ILL, B_ILL, {"a": (2,)})
    settings = dict(steps=5000, step_size=Constant(0.025), divergence_factor=1e6)
    whole = run(objective, {"a": np.ones(2)}, **settings)
    k = len(whole.history) - 1  # stop just before evaluating the point that diverges
    first = run(objective, {"a": np.ones(2)}, stop_requested=stop_after(k), **settings)
    assert first.reason is StopReason.INTERRUPTED
    assert_same_run(run(objective, None, state=first.state, **settings), whole)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(batch_size=None), "full batch"),
        (dict(step_size=0.05, n_samples=40, batch_size=7, seed=4, steps=60), None),  # the right settings: accepted
        (dict(n_samples=30), "permutation"),
    ],
)
def test_state_must_fit_the_settings(change, fragment):
    settings = RESUMABLE["mini-batch, constant"]
    objective, _, _ = least_squares()
    first = run(objective, {"w": np.zeros(3)}, stop_requested=stop_after(3), **settings)
    if fragment is None:
        run(objective, None, state=first.state, **{**settings, **change})
        return
    with pytest.raises(UserError, match=fragment) as info:
        run(objective, None, state=first.state, **{**settings, **change})
    assert "\n" not in str(info.value)


def test_full_batch_state_refused_by_a_minibatch_run():
    objective, _, _ = least_squares()
    first = run(objective, {"w": np.zeros(3)}, steps=10, step_size="armijo", stop_requested=stop_after(2))
    with pytest.raises(UserError, match="line-search result"):
        run(objective, None, steps=10, step_size="armijo", n_samples=40, batch_size=8, state=first.state)


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float32", "float64")], ids=["float32", "mixed"])
@pytest.mark.parametrize("rule", ["constant:0.001", "armijo"])
def test_float32_parameters_resume_bit_for_bit(dtypes, rule):
    # float64 gradients on float32 parameters: each step is rounded to the parameter's dtype,
    # so a resumed run starts from exactly the point the state holds.
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((20, 5)), rng.standard_normal(20)

    def objective(params, batch):
        r = A @ params["w"].astype(np.float64) + params["c"][0] - b
        return float(r @ r), {"w": 2 * A.T @ r, "c": np.array([2 * r.sum()])}

    start = {"w": np.zeros(5, dtypes[0]), "c": np.zeros(1, dtypes[1])}
    whole = run(objective, start, steps=40, step_size=rule)
    assert {name: a.dtype.name for name, a in whole.params.items()} == {"w": dtypes[0], "c": dtypes[1]}
    first = run(objective, start, steps=40, step_size=rule, stop_requested=stop_after(7))
    assert first.reason is StopReason.INTERRUPTED
    assert_same_run(run(objective, None, steps=40, step_size=rule, state=first.state), whole)


# --- watched losses: validation (early stopping) and the full-data loss of mini-batch runs -------------


def noisy_split(seed: int = 5):
    """Least squares on noisy data with a held-out part: training on too little data overfits the validation loss."""
    rng = np.random.default_rng(seed)
    X, X_val = rng.standard_normal((12, 6)), rng.standard_normal((200, 6))
    w_star = rng.standard_normal(6)
    y, y_val = X @ w_star + rng.standard_normal(12), X_val @ w_star + 0.1 * rng.standard_normal(200)

    def objective(params: Params, batch):
        rows = np.arange(12) if batch is None else batch
        r = X[rows] @ params["w"] - y[rows]
        return float(r @ r), {"w": 2 * X[rows].T @ r}

    def validation(params: Params) -> float:
        r = X_val @ params["w"] - y_val
        return float(r @ r)

    return objective, validation


def test_a_selecting_watch_hands_back_the_point_with_the_lowest_watched_loss():
    objective, validation = noisy_split()
    watch = Watch("validation_loss", validation, every=2, selects=True)
    result = run(objective, {"w": np.zeros(6)}, steps=300, step_size=0.01, watches=(watch,))
    rows = [row for row in result.watched if row.name == "validation_loss"]
    assert [row.step for row in rows][:3] == [0, 2, 4] and rows[-1].step == len(result.history) - 1  # and where it ended
    best = min(rows, key=lambda row: row.loss)
    assert result.best_step == result.steps == best.step < len(result.history) - 1  # it overfits: the best is earlier
    assert validation(result.params) == best.loss == result.watched_loss("validation_loss")


def test_patience_watches_the_selecting_loss():
    objective, validation = noisy_split()
    watch = Watch("validation_loss", validation, selects=True)
    result = run(objective, {"w": np.zeros(6)}, steps=5000, step_size=0.01, patience=20, watches=(watch,))
    assert result.reason is StopReason.NO_IMPROVEMENT
    assert len(result.history) - 1 == result.best_step + 20  # stopped 20 steps after the validation loss last improved


def test_a_watch_that_does_not_select_is_only_recorded():
    objective, _, _ = least_squares()
    full = Watch("full_loss", lambda params: objective(params, None)[0], every=5)
    result = run(objective, {"w": np.zeros(3)}, steps=23, step_size=0.1, n_samples=40, batch_size=8, seed=1, watches=(full,))
    assert [row.step for row in result.watched] == [0, 5, 10, 15, 20, 23]
    assert result.steps == 23 and result.watched_loss("full_loss") == objective(result.params, None)[0]
    assert result.best_step is None  # mini-batch losses do not compare, and nothing selects


def test_only_one_watch_may_select_and_every_must_be_positive():
    with pytest.raises(SpecError, match="at most one"):
        run(lambda p, b: (0.0, {"w": p["w"]}), {"w": np.zeros(1)}, steps=1, watches=(Watch("a", float, selects=True), Watch("b", float, selects=True)))
    with pytest.raises(UserError, match="every N >= 1"):
        Watch("a", float, every=0)


@pytest.mark.parametrize("k", [3, 10])
def test_a_run_with_a_selecting_watch_resumes_bit_for_bit(k):
    objective, validation = noisy_split()
    watch = Watch("validation_loss", validation, every=3, selects=True)
    settings = dict(steps=60, step_size="nesterov:0.005,0.9", patience=25, watches=(watch,))
    whole = run(objective, {"w": np.zeros(6)}, **settings)
    first = run(objective, {"w": np.zeros(6)}, stop_requested=stop_after(k), **settings)
    again = run(objective, None, state=first.state, **settings)
    assert_same_run(again, whole)
    assert again.watched == whole.watched and again.best_step == whole.best_step
