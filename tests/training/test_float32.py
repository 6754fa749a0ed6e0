"""Training with a float32 kernel (--dtype float32): the data converted once per run, the parameters float32 through
every step-size rule, a checkpoint and a resume, and prediction and evaluation of the result."""

from __future__ import annotations

import types

import numpy as np
import pytest

import symbp
from symbp.errors import DataError
from symbp.training import StopReason
from symbp.training.checkpoint import Checkpoint, RunRecord, load_checkpoint, save_checkpoint
from symbp.training.fit import in_kernel_dtype, train
from symbp.training.settings import RunSettings
from tests.helpers import assert_same_run, kernel, noisy_regression, slow_after, stop_after

RULES = ["armijo", "constant:0.001", "decay:0.002,50", "momentum:0.001,0.9", "nesterov:0.001,0.9", "adam:0.01"]


@pytest.fixture(scope="module")
def k32():
    return kernel(hidden=3, sigma="tanh", dtype="float32")


class Recording(types.SimpleNamespace):
    """A kernel's attributes, with its two evaluations recording the arrays of data they were given."""

    @classmethod
    def of(cls, module):
        seen: list[np.ndarray] = []
        wrapped = cls(**{name: getattr(module, name) for name in dir(module) if not name.startswith("__")}, seen=seen)

        def loss_and_grad(params, X, y):
            seen.append(X)
            return module.loss_and_grad(params, X, y)

        def arrays(*args):
            seen.append(args[-2])
            return module._loss_and_grad_arrays(*args)

        wrapped.loss_and_grad, wrapped._loss_and_grad_arrays = loss_and_grad, arrays
        return wrapped


@pytest.mark.parametrize("rule", slow_after(RULES, keep=2))
def test_every_rule_keeps_the_parameters_float32_and_the_data_are_converted_once(k32, rule):
    X, y = noisy_regression()  # float64, as data files are read
    recording = Recording.of(k32)
    result = train(recording, X, y, steps=30, step_size=rule)
    assert result.steps == 30 and np.isfinite(result.final_loss)
    assert all(value.dtype == np.float32 for value in result.params.values())
    assert all(value.dtype == np.float32 for value in result.state.params.values())
    # Every evaluation read float32 data, and all of them the one array converted at the start.
    assert {a.dtype for a in recording.seen} == {np.dtype(np.float32)}
    assert len({id(a) for a in recording.seen}) == 1


def test_the_loss_falls_as_with_the_float64_kernel(k32):
    """Same start (the float64 draws rounded), same data: the runs end at nearly the same loss."""
    X, y = noisy_regression()
    k64 = kernel(hidden=3, sigma="tanh")
    r32, r64 = train(k32, X, y, steps=200, step_size="adam:0.01"), train(k64, X, y, steps=200, step_size="adam:0.01")
    assert r32.final_loss < 0.5 * r32.history[0].loss
    assert abs(r32.final_loss - r64.final_loss) <= 1e-3 * r64.final_loss


@pytest.mark.parametrize("settings", slow_after([dict(step_size="adam:0.01"), dict(step_size="armijo"),
                                                 dict(step_size="nesterov:0.001,0.9", batch_size=16, seed=1)]))
def test_a_checkpoint_keeps_float32_and_the_resumed_run_is_the_whole_run(tmp_path, k32, settings):
    X, y = noisy_regression()
    whole = train(k32, X, y, steps=60, **settings)
    first = train(k32, X, y, steps=60, stop_requested=stop_after(23), **settings)
    assert first.reason is StopReason.INTERRUPTED
    record = RunRecord(kernel="/k.py", kernel_sha256="0" * 64, data="/d.csv", data_sha256="1" * 64, target="y", standardize=False,
                       output="/run", trust=False, settings=RunSettings(steps=60, **settings))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "run.checkpoint.npz", Checkpoint(record, first.state))).state
    assert all(value.dtype == np.float32 for value in loaded.params.values())
    assert_same_run(train(k32, X, y, steps=60, state=loaded, **settings), whole)


def test_predict_and_evaluate_a_float32_network(k32):
    X, y = noisy_regression()
    result = train(k32, X, y, steps=100, step_size="adam:0.01")
    predicted = symbp.predict(k32, result.params, X)
    np.testing.assert_allclose(predicted, k32.forward(result.params, X.astype(np.float32)), rtol=1e-6)
    scores = symbp.evaluate(k32, result.params, X, y)
    assert abs(scores.mse - result.final_loss / len(y)) <= 1e-5 * scores.mse


def test_data_beyond_float32_are_refused_in_one_line(k32):
    X, y = noisy_regression()
    X[3, 0] = 1e39  # within what a float64 kernel takes (1e100), beyond float32
    with pytest.raises(DataError, match=r"^the data: values beyond 3.4e\+38 do not fit the kernel's float32: .*--dtype float64$"):
        train(k32, X, y, steps=1)
    same = np.ones((2, 1), np.float32)
    assert in_kernel_dtype(k32, same, same[:, 0])[0] is same  # float32 data are not copied


def test_a_float64_starting_point_is_rounded_once(k32):
    X, y = noisy_regression()
    start = {name: value.astype(np.float64) for name, value in k32.init_params(X.shape[1], seed=4).items()}
    result = train(k32, X, y, steps=5, step_size="constant:0.001", params0=start)
    assert all(value.dtype == np.float32 for value in result.params.values())
    assert all(value.dtype == np.float64 for value in start.values())  # the caller's arrays are left as they were
