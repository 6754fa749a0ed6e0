"""Tests for symbp/training/checkpoint.py: a stopped run saved to a file goes on bit for bit, also from files of format version 1."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.errors import UserError
from symbp.training import Armijo, Evaluation, RunnerState, RunSettings, StopReason, run
from symbp.training.checkpoint import Checkpoint, RunRecord, data_sha256, load_checkpoint, save_checkpoint
from symbp.training.fit import train
from tests.helpers import assert_same_run, damaged_checkpoints, noisy_regression, stop_after

# --- a small network and data --------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    return symbp.load_kernel(symbp.emit(symbp.derive(hidden=3, sigma="tanh"), tmp_path_factory.mktemp("kernel")))


make_data = noisy_regression

RECORD = RunRecord(
    kernel="/k.py", kernel_sha256="0" * 64, data="/d.csv", data_sha256="1" * 64, target="y", standardize=False,
    output="/run", trust=False, settings=RunSettings(steps=50, step_size="armijo", divergence_factor=1e6),
)

RUNS = {
    # γ0 = 0.7 and 0.3: the accepted γ are not dyadic, so a γ stored with fewer bits would show.
    "full batch, Armijo": dict(step_size="armijo:0.7", steps=80),
    "mini-batch, constant": dict(step_size=0.01, steps=80, batch_size=7, seed=3),
    "mini-batch, Armijo": dict(step_size="armijo:0.3", steps=80, batch_size=16, seed=1, patience=30),
    "full batch, Adam": dict(step_size="adam:0.01", steps=80),
    "mini-batch, Nesterov": dict(step_size="nesterov:0.001,0.9", steps=80, batch_size=16, seed=1),
}


# --- the file round trip ---------------------------------------------------------------


def assert_same_state(got: RunnerState, want: RunnerState) -> None:
    assert got.step == want.step and got.history == want.history
    assert got.last_gamma == want.last_gamma and got.rng == want.rng and got.position == want.position
    for a, b in ((got.params, want.params), (got.previous, want.previous)):
        assert list(a) == list(b)
        for name in b:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
            np.testing.assert_array_equal(a[name], b[name])
    assert (got.pending is None) == (want.pending is None)
    if want.pending is not None:
        assert got.pending.loss == want.pending.loss and got.pending.norm_sq == want.pending.norm_sq
        for name in want.pending.grad:
            np.testing.assert_array_equal(got.pending.grad[name], want.pending.grad[name])
    assert (got.order is None) == (want.order is None)
    if want.order is not None:
        np.testing.assert_array_equal(got.order, want.order)
    assert (got.memory is None) == (want.memory is None)
    if want.memory is not None:
        assert sorted(got.memory) == sorted(want.memory)
        for key, value in want.memory.items():
            np.testing.assert_array_equal(got.memory[key], value)


@pytest.mark.parametrize("settings", RUNS.values(), ids=RUNS.keys())
def test_checkpoint_round_trip_and_resume(tmp_path, kernel, settings):
    X, y = make_data()
    whole = train(kernel, X, y, **settings)
    first = train(kernel, X, y, stop_requested=stop_after(23), **settings)
    assert first.reason is StopReason.INTERRUPTED
    state = first.state
    assert (state.pending is not None) == (settings.get("batch_size") is None and settings["step_size"].startswith("armijo"))
    assert (state.order is not None) == ("batch_size" in settings)

    path = save_checkpoint(tmp_path / "run.checkpoint.npz", Checkpoint(RECORD, state))
    loaded = load_checkpoint(path)
    assert loaded.record == RECORD
    assert_same_state(loaded.state, state)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    assert_same_run(train(kernel, X, y, state=loaded.state, **settings), whole)


def test_checkpoint_keeps_float32_and_parameter_order(tmp_path):
    params = {"b2": np.arange(3, dtype=np.float32), "W1": np.ones((1, 3), dtype=np.float32)}
    state = RunnerState(step=0, params=params, previous=None, history=(), pending=Evaluation(1.5, params, 2.5))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.npz", Checkpoint(RECORD, state))).state
    assert list(loaded.params) == ["b2", "W1"] and loaded.params["b2"].dtype == np.float32
    assert loaded.pending.loss == 1.5 and list(loaded.pending.grad) == ["b2", "W1"]


def test_data_fingerprint_sees_any_change():
    X, y = make_data()
    base = data_sha256(X, y)
    assert data_sha256(X.copy(), y.copy()) == base
    X2 = X.copy()
    X2[7, 1] = np.nextafter(X2[7, 1], np.inf)  # one bit
    assert data_sha256(X2, y) != base
    assert data_sha256(X.reshape(90, 2), y) != base  # same values, other shape


def test_bad_checkpoint_files_are_refused_with_one_line(tmp_path, kernel):
    X, y = make_data()
    first = train(kernel, X, y, steps=20, stop_requested=stop_after(5))
    good = save_checkpoint(tmp_path / "good.npz", Checkpoint(RECORD, first.state))
    for what, (path, fragment) in damaged_checkpoints(tmp_path, good).items():
        with pytest.raises(UserError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert fragment in message and str(path) in message and "\n" not in message, (what, message)




# --- checkpoints of format version 1 written before the record held a RunSettings ----------
#
# The files in checkpoints/ were written by save_checkpoint as of commit 227c150, when the record was a
# flat Settings of fifteen fields, from runs of the two objectives below stopped after 4 and 3 steps.
# Every iterate of these runs is a dyadic number, so they are the same bits on any machine.

FROZEN = Path(__file__).parent / "checkpoints"
TARGETS = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0])


def two_arrays(params, batch):  # R(a, b) = ½‖a − 2‖² + ½(b + 1)²
    r, s = params["a"] - 2.0, params["b"] + 1.0
    return 0.5 * (float(r[0] * r[0]) + float(r[1] * r[1]) + float(s[0] * s[0])), {"a": r, "b": s}


def samples(params, batch):  # R_B(a) = ½ Σ_{i∈B} (a − t_i)²
    rows = np.arange(len(TARGETS)) if batch is None else batch
    r = params["a"][0] - TARGETS[rows]
    return 0.5 * sum(float(x * x) for x in r), {"a": np.array([sum(float(x) for x in r)])}


FROZEN_RUNS = {
    "v1-full-batch-armijo": (two_arrays, {"a": np.zeros(2), "b": np.zeros(1)}, None,
                             dict(steps=12, step_size="armijo:0.75", divergence_factor=1e6)),
    "v1-minibatch-constant": (samples, {"a": np.zeros(1)}, len(TARGETS),
                              dict(steps=10, step_size="0.125", batch_size=4, seed=3, patience=5, divergence_factor=None)),
}


def test_a_version_1_checkpoint_loads_with_its_record_and_state():
    full = load_checkpoint(FROZEN / "v1-full-batch-armijo.checkpoint.npz")
    assert full.record == RunRecord(
        kernel="/runs/k.py", kernel_sha256="ab" * 32, data="/runs/d.csv", data_sha256="cd" * 32, target="y", standardize=False,
        output="/runs/run", trust=False, settings=RunSettings(steps=12, step_size="armijo:0.75", divergence_factor=1e6),
    )
    assert full.record.settings.step_size == "armijo:0.75"  # as typed, for messages and for writing it again
    state = full.state
    assert state.step == 4 and state.last_gamma == 0.75 and state.rng is None and state.order is None
    assert [row.loss for row in state.history] == [4.5, 0.28125, 0.017578125, 0.0010986328125]
    assert state.pending.loss == 6.866455078125e-05 and list(state.pending.grad) == ["a", "b"]
    mini = load_checkpoint(FROZEN / "v1-minibatch-constant.checkpoint.npz")
    assert mini.record == RunRecord(
        kernel="/runs/k.py", kernel_sha256="ab" * 32, data="/runs/d.csv", data_sha256="cd" * 32, target=None, standardize=True,
        output="/runs/run", trust=True,
        settings=RunSettings(steps=10, step_size="0.125", batch_size=4, seed=3, patience=5, divergence_factor=None),
    )
    assert mini.state.position == 4 and mini.state.order.tolist() == [3, 5, 0, 2, 1, 4] and mini.state.pending is None
    assert mini.state.rng["bit_generator"] == "PCG64"


@pytest.mark.parametrize("name", FROZEN_RUNS)
def test_a_version_1_checkpoint_resumes_bit_for_bit(name):
    objective, params0, n_samples, settings = FROZEN_RUNS[name]
    saved = load_checkpoint(FROZEN / f"{name}.checkpoint.npz")
    assert saved.record.settings == RunSettings(**settings)
    whole = run(objective, params0, n_samples=n_samples, **settings)
    resumed = run(objective, None, n_samples=n_samples, settings=saved.record.settings, state=saved.state)
    assert resumed.steps > saved.state.step
    assert_same_run(resumed, whole)


@pytest.mark.parametrize("name", FROZEN_RUNS)
def test_a_version_1_checkpoint_is_written_again_with_the_same_content(tmp_path, name):
    path = FROZEN / f"{name}.checkpoint.npz"
    again = save_checkpoint(tmp_path / "again.npz", load_checkpoint(path))
    with np.load(path) as before, np.load(again) as after:
        assert before.files == after.files
        for key in before.files:  # the JSON in "meta" among them, character for character
            assert before[key].dtype == after[key].dtype and np.array_equal(before[key], after[key]), key


# --- what the record keeps -------------------------------------------------------------------


def meta_settings(path: Path) -> dict:
    with np.load(path) as npz:
        return json.loads(str(npz["meta"][()]))["settings"]


def test_the_record_is_written_as_the_fifteen_fields_of_version_1(tmp_path):
    state = RunnerState(step=0, params={"a": np.zeros(2)}, previous=None, history=())
    fields = meta_settings(save_checkpoint(tmp_path / "c.npz", Checkpoint(RECORD, state)))
    assert fields == {
        "kernel": "/k.py", "kernel_sha256": "0" * 64, "data": "/d.csv", "data_sha256": "1" * 64, "target": "y", "steps": 50,
        "step_size": "armijo", "batch_size": None, "seed": 0, "tol": 0.0, "patience": None, "standardize": False,
        "divergence_factor": 1e6, "output": "/run", "trust": False,
    }


def test_a_rule_object_is_kept_by_its_spelling_and_min_improvement_when_not_the_default(tmp_path):
    state = RunnerState(step=0, params={"a": np.zeros(2)}, previous=None, history=())
    record = replace(RECORD, settings=RunSettings(step_size=Armijo(gamma0=0.5), min_improvement=1e-3))
    path = save_checkpoint(tmp_path / "c.npz", Checkpoint(record, state))
    fields = meta_settings(path)
    assert fields["step_size"] == "armijo:0.5" and fields["min_improvement"] == 1e-3
    assert load_checkpoint(path).record == record


def test_a_rule_without_a_spelling_cannot_be_kept():
    with pytest.raises(UserError, match="has no spelling") as info:
        replace(RECORD, settings=RunSettings(step_size=Armijo(c=0.5)))
    assert "\n" not in str(info.value)
