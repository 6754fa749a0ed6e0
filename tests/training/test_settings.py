"""Tests for symbp/training/settings.py: one RunSettings, checked once with the runner's messages, taken by every caller."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from symbp.errors import SpecError
from symbp.training import DIVERGENCE_FACTOR, Armijo, Constant, RunSettings, run
from tests.helpers import assert_same_run


def quadratic(params, batch):  # R = ½‖W1‖² + ½‖b1‖²
    return 0.5 * float(np.sum(params["W1"] ** 2) + params["b1"] @ params["b1"]), {"W1": params["W1"], "b1": params["b1"]}


def start6():
    return {"W1": np.ones((2, 2)), "b1": np.ones(2)}


# --- the checks, through run() (moved from tests/training/test_runner.py) ----------------


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"steps": -1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"steps": 5, "batch_size": 0, "n_samples": 10}, "batch_size"),
        ({"steps": 5, "batch_size": 4}, "n_samples"),
        ({"steps": 5, "patience": 0}, "patience"),
        ({"steps": 5, "grad_tol": -1.0}, "grad_tol"),
        ({"steps": 5, "step_size": "fast"}, "step size"),
    ],
)
def test_bad_settings_raise_spec_error(kwargs, fragment):
    with pytest.raises(SpecError, match=fragment) as info:
        run(quadratic, start6(), **kwargs)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("factor", [0.5, 0.0, float("nan"), float("inf"), "big", True])
def test_bad_divergence_factor_raises(factor):
    with pytest.raises(SpecError, match="divergence_factor"):
        run(quadratic, start6(), steps=3, divergence_factor=factor)


# --- RunSettings itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": -1}, "steps must be an integer >= 0, got -1"),
        ({"steps": 2.5}, "steps must be an integer >= 0, got 2.5"),
        ({"steps": True}, "steps must be an integer >= 0, got True"),
        ({"patience": 0}, "patience must be an integer >= 1, got 0"),
        ({"grad_tol": -1.0}, "grad_tol must be a finite number >= 0, got -1.0"),
        ({"grad_tol": float("inf")}, "grad_tol must be a finite number >= 0, got inf"),
        ({"min_improvement": -1e-3}, "min_improvement must be a finite number >= 0, got -0.001"),
        ({"divergence_factor": 0.5}, "divergence_factor must be a finite number >= 1 or None, got 0.5"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"step_size": "fast"}, "invalid step size 'fast': use 'armijo', 'armijo:GAMMA0', 'constant:GAMMA', a bare number GAMMA, "
                                "'decay:GAMMA0,TAU', 'momentum:GAMMA[,MU]', 'nesterov:GAMMA[,MU]' or 'adam[:GAMMA[,BETA1,BETA2,EPS]]', "
                                "with positive finite numbers"),
    ],
)
def test_each_bad_value_is_one_line_naming_it(kwargs, message):
    with pytest.raises(SpecError) as info:
        RunSettings(**kwargs)
    assert str(info.value) == message


def test_of_several_mistakes_the_first_in_the_runners_order_is_reported():
    with pytest.raises(SpecError, match="step size"):
        RunSettings(steps=-1, step_size="fast", seed=-1)
    with pytest.raises(SpecError, match="^steps"):
        RunSettings(steps=-1, patience=0, seed=-1)
    with pytest.raises(SpecError, match="^divergence_factor"):
        RunSettings(divergence_factor=0.5, batch_size=0)


def test_defaults_are_those_of_symbp_train():
    settings = RunSettings()
    assert (settings.steps, settings.rule, settings.batch_size, settings.seed) == (1000, Armijo(), None, 0)
    assert (settings.grad_tol, settings.patience, settings.min_improvement) == (0.0, None, 1e-10)
    assert settings.divergence_factor == DIVERGENCE_FACTOR == 1e6


def test_values_are_normalised_and_the_spelling_kept():
    settings = RunSettings(steps=np.int64(5), batch_size=np.int32(3), seed=np.uint8(2), patience=np.int16(4), step_size="0.25")
    assert [type(v) for v in (settings.steps, settings.batch_size, settings.seed, settings.patience)] == [int] * 4
    assert settings.rule == Constant(0.25) and settings.step_size == "0.25" and settings.step_size_spelling == "0.25"
    assert RunSettings(step_size=0.5).step_size_spelling == "constant:0.5"
    assert RunSettings(step_size=Armijo(c=0.5)).step_size_spelling is None


def test_settings_compare_by_rule_not_by_spelling():
    assert RunSettings(step_size="ARMIJO") == RunSettings(step_size=Armijo()) == RunSettings()
    assert RunSettings(step_size="0.1") != RunSettings(step_size="0.2")
    assert "rule" not in repr(RunSettings())


def test_settings_are_frozen_and_replace_checks_again():
    settings = RunSettings(steps=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.steps = 3  # type: ignore[misc]
    assert dataclasses.replace(settings, step_size="decay:0.1,10").rule.tau == 10.0
    with pytest.raises(SpecError, match="steps"):
        dataclasses.replace(settings, steps=-2)


def test_full_batch():
    assert RunSettings().full_batch(10) and RunSettings(batch_size=10).full_batch(10)
    assert not RunSettings(batch_size=9).full_batch(10)


# --- settings= or keywords ------------------------------------------------------------------


def test_run_with_settings_is_the_run_with_the_same_keywords():
    keywords = dict(steps=30, step_size="decay:0.3,10", grad_tol=1e-12, patience=5, min_improvement=1e-3, divergence_factor=10.0)
    assert_same_run(run(quadratic, start6(), settings=RunSettings(**keywords)), run(quadratic, start6(), **keywords))


def test_run_takes_settings_or_keywords_not_both_nor_neither():
    with pytest.raises(TypeError, match="not both: patience, steps given beside settings"):
        run(quadratic, start6(), settings=RunSettings(), steps=3, patience=2)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'steps'"):
        run(quadratic, start6())
    with pytest.raises(TypeError, match="settings must be a RunSettings"):
        run(quadratic, start6(), settings={"steps": 3})
    # Keywords left at (or given as) their defaults are not a second set of settings.
    run(quadratic, start6(), settings=RunSettings(steps=2), step_size="armijo", divergence_factor=None)
