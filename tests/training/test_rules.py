"""Tests for symbp/training/rules.py: the spelling of step-size rules, their checks, and each rule's step on its own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symbp.errors import SpecError
from symbp.training.rules import Adam, Armijo, Constant, Decaying, Momentum, parse_step_size

# --- parse_step_size -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("armijo", Armijo()),
        (" ARMIJO ", Armijo()),
        ("armijo:0.5", Armijo(gamma0=0.5)),
        ("constant:0.01", Constant(0.01)),
        ("0.01", Constant(0.01)),
        ("1e-3", Constant(0.001)),
        (0.25, Constant(0.25)),
        (2, Constant(2.0)),
        ("decay:0.1,100", Decaying(0.1, 100.0)),
        ("decay: 0.1 , 100", Decaying(0.1, 100.0)),
        (Decaying(0.3, 7.0), Decaying(0.3, 7.0)),
        ("momentum:0.01", Momentum(0.01, 0.9)),
        ("momentum:0.01,0.5", Momentum(0.01, 0.5)),
        ("nesterov:0.01,0.9", Momentum(0.01, 0.9, nesterov=True)),
        ("adam", Adam()),
        ("adam:0.01", Adam(0.01)),
        ("adam:0.01,0.8,0.99,1e-7", Adam(0.01, 0.8, 0.99, 1e-7)),
    ],
)
def test_parse_step_size_accepts(text, expected):
    assert parse_step_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "sgd", "armijo:", "armijo:0", "armijo:0.5,2", "constant", "constant:-1", "constant:x", "0", "-0.5",
     "nan", "inf", "decay:0.1", "decay:0.1,0", "decay:a,b", "decay:0.1,100,3", "armijo:1:2", 0, -1.0,
     float("nan"), True, None, "momentum", "momentum:0.1,0.9,3", "nesterov:", "adam:0.1,0.9", "adam:0.1,0.9,0.999,0"],
)
def test_parse_step_size_rejects(text):
    with pytest.raises(SpecError) as info:
        parse_step_size(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message and "armijo" in message and "decay:GAMMA0,TAU" in message


@pytest.mark.parametrize(
    "make",
    [lambda: Constant(0.0), lambda: Decaying(0.1, -1.0), lambda: Armijo(c=1.0), lambda: Armijo(shrink=1.5),
     lambda: Armijo(grow=0.5), lambda: Armijo(max_backtracks=-1), lambda: Momentum(0.1, 1.0), lambda: Momentum(-0.1),
     lambda: Adam(0.1, beta1=1.0), lambda: Adam(0.1, beta2=-0.1), lambda: Adam(0.1, eps=0.0)],
)
def test_rule_objects_validate(make):
    with pytest.raises(SpecError):
        make()


@pytest.mark.parametrize(
    "rule", [Constant(0.01), Constant(2), Decaying(0.1, 100.0), Armijo(), Armijo(gamma0=0.5), Armijo(gamma0=3),
             Momentum(0.01, 0.9), Momentum(0.2, 0.5, nesterov=True), Adam(), Adam(0.01, 0.8, 0.99, 1e-7)]
)
def test_a_rule_reads_back_from_its_spelling(rule):
    assert parse_step_size(rule.spelling) == rule


def test_an_armijo_rule_with_other_constants_has_no_spelling():
    assert Armijo(c=0.5).spelling is None and Armijo(max_backtracks=3).spelling is None


# --- each rule's step, given a descent of its own ---------------------------------------


class Descent:
    """A stand-in for the runner's descent: R(a_l − γ g) = ``loss_at(γ)``; it records what the rule asked."""

    def __init__(self, loss: float, norm_sq: float, loss_at=None, step: int = 0, last_gamma: float | None = None, gradient=None) -> None:
        self.loss, self.norm_sq, self.step, self.last_gamma = loss, norm_sq, step, last_gamma
        self.loss_at = loss_at
        self.gradient = gradient
        self.memory: dict = {}
        self.moves: list[float] = []
        self.trials: list[float] = []
        self.shifts: list[np.ndarray] = []

    def move(self, gamma):
        self.moves.append(gamma)
        return gamma, f"a - {gamma} g", {}, None

    def trial(self, gamma):
        self.trials.append(gamma)
        there = self.loss_at(gamma)
        return (gamma, f"a - {gamma} g", {}, there), there

    def shift(self, update, gamma):
        self.shifts.append(update)
        return gamma, update, {}, None


def test_constant_moves_by_its_gamma_and_evaluates_nothing():
    descent = Descent(loss=1.0, norm_sq=4.0, step=7)
    assert Constant(0.25).take(descent) == (0.25, "a - 0.25 g", {}, None)
    assert descent.moves == [0.25] and descent.trials == []


def test_decaying_moves_by_the_gamma_of_the_step_index():
    descent = Descent(loss=1.0, norm_sq=4.0, step=100)
    gamma, *_ = Decaying(0.1, 100.0).take(descent)
    assert gamma == 0.05 and descent.moves == [0.05] and descent.trials == []


def test_armijo_backtracks_to_the_first_gamma_with_sufficient_decrease():
    # R(a − γg) = 1 − γ‖g‖² + 10 γ² ‖g‖² along the line, ‖g‖² = 1: sufficient decrease needs γ ≤ (1 − c)/10.
    rule = Armijo(gamma0=1.0, c=0.5, shrink=0.5)
    descent = Descent(loss=1.0, norm_sq=1.0, loss_at=lambda g: 1.0 - g + 10 * g * g)
    gamma, *_ = rule.take(descent)
    assert descent.trials == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125] and gamma == 0.03125 and descent.moves == []


def test_armijo_starts_from_grow_times_the_last_gamma_but_never_above_gamma0():
    always = lambda g: 0.0  # noqa: E731 - every trial passes
    assert Armijo(gamma0=1.0).take(Descent(1.0, 1.0, always, last_gamma=0.125))[0] == 0.25
    assert Armijo(gamma0=1.0).take(Descent(1.0, 1.0, always, last_gamma=0.75))[0] == 1.0
    assert Armijo(gamma0=0.5, grow=3.0).take(Descent(1.0, 1.0, always, last_gamma=0.1))[0] == pytest.approx(0.3)


def test_armijo_gives_up_after_max_backtracks_and_needs_a_strict_decrease():
    descent = Descent(loss=1.0, norm_sq=0.0, loss_at=lambda g: 1.0)  # c·γ·‖g‖² = 0: only a strict decrease can pass
    assert Armijo(max_backtracks=4).take(descent) is None
    assert descent.trials == [1.0, 0.5, 0.25, 0.125, 0.0625]


def test_armijo_backtracks_past_a_trial_that_blows_up():
    descent = Descent(loss=1.0, norm_sq=1.0, loss_at=lambda g: math.nan if g > 0.3 else 0.5)
    assert Armijo().take(descent)[0] == 0.25 and descent.trials == [1.0, 0.5, 0.25]



def test_momentum_accumulates_a_velocity_in_its_memory():
    g = np.array([1.0, -2.0])
    descent = Descent(loss=1.0, norm_sq=5.0, gradient=g)
    rule = Momentum(0.1, 0.5)
    rule.take(descent)
    np.testing.assert_array_equal(descent.shifts[-1], -0.1 * g)  # v_1 = −γ g
    rule.take(descent)
    np.testing.assert_array_equal(descent.shifts[-1], 0.5 * (-0.1 * g) - 0.1 * g)  # v_2 = μ v_1 − γ g
    np.testing.assert_array_equal(descent.memory["velocity"], descent.shifts[-1])


def test_nesterov_steps_along_the_new_velocity_and_the_gradient():
    g = np.array([1.0, -2.0])
    descent = Descent(loss=1.0, norm_sq=5.0, gradient=g)
    Momentum(0.1, 0.5, nesterov=True).take(descent)
    velocity = -0.1 * g
    np.testing.assert_array_equal(descent.memory["velocity"], velocity)
    np.testing.assert_array_equal(descent.shifts[-1], 0.5 * velocity - 0.1 * g)


def test_adam_corrects_the_bias_of_its_moments():
    g = np.array([1.0, -4.0])
    descent = Descent(loss=1.0, norm_sq=17.0, gradient=g)
    rule = Adam(0.01)
    gamma, update, _, _ = rule.take(descent)
    # After one step m̂ = g and v̂ = g²: the step is −γ g/(|g| + ε′), about γ in every coordinate.
    assert gamma == pytest.approx(0.01 * math.sqrt(1 - 0.999) / (1 - 0.9))
    np.testing.assert_allclose(update, -0.01 * np.sign(g), rtol=1e-6)
    assert descent.memory["t"] == 1
    rule.take(descent)
    assert descent.memory["t"] == 2
    np.testing.assert_allclose(descent.memory["first"], 0.9 * 0.1 * g + 0.1 * g)


def test_a_rule_out_of_its_range_says_which_number():
    with pytest.raises(SpecError, match=r"^Nesterov: mu must lie in \[0, 1\), got 1\.5$"):
        parse_step_size("nesterov:0.1,1.5")
