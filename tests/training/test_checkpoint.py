"""Tests for symbp/checkpoint.py and `symbp train --resume`: a stopped run goes on bit for bit."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.training.checkpoint import Checkpoint, Settings, StopOnSignals, data_sha256, load_checkpoint, save_checkpoint
from symbp.cli import main
from symbp.errors import UserError
from symbp.training.runner import Evaluation, RunnerState, StopReason
from symbp.training.fit import train
from tests.helpers import assert_same_run, stop_after

# --- a small network and data --------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    return symbp.emit(symbp.derive(hidden=3, sigma="tanh"), tmp_path_factory.mktemp("kernel"))


@pytest.fixture(scope="module")
def kernel(kernel_path):
    return symbp.load_kernel(kernel_path)


def make_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


SETTINGS = Settings(
    kernel="/k.py", kernel_sha256="0" * 64, data="/d.csv", data_sha256="1" * 64, target="y", steps=50,
    step_size="armijo", batch_size=None, seed=0, tol=0.0, patience=None, standardize=False,
    divergence_factor=1e6, output="/run", trust=False,
)

RUNS = {
    # γ0 = 0.7 and 0.3: the accepted γ are not dyadic, so a γ stored with fewer bits would show.
    "full batch, Armijo": dict(step_size="armijo:0.7", steps=80),
    "mini-batch, constant": dict(step_size=0.01, steps=80, batch_size=7, seed=3),
    "mini-batch, Armijo": dict(step_size="armijo:0.3", steps=80, batch_size=16, seed=1, patience=30),
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


@pytest.mark.parametrize("settings", RUNS.values(), ids=RUNS.keys())
def test_checkpoint_round_trip_and_resume(tmp_path, kernel, settings):
    X, y = make_data()
    whole = train(kernel, X, y, **settings)
    first = train(kernel, X, y, stop_requested=stop_after(23), **settings)
    assert first.reason is StopReason.INTERRUPTED
    state = first.state
    assert (state.pending is not None) == (settings.get("batch_size") is None and settings["step_size"].startswith("armijo"))
    assert (state.order is not None) == ("batch_size" in settings)

    path = save_checkpoint(tmp_path / "run.checkpoint.npz", Checkpoint(SETTINGS, state))
    loaded = load_checkpoint(path)
    assert loaded.settings == SETTINGS
    assert_same_state(loaded.state, state)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    assert_same_run(train(kernel, X, y, state=loaded.state, **settings), whole)


def test_checkpoint_keeps_float32_and_parameter_order(tmp_path):
    params = {"b2": np.arange(3, dtype=np.float32), "W1": np.ones((1, 3), dtype=np.float32)}
    state = RunnerState(step=0, params=params, previous=None, history=(), pending=Evaluation(1.5, params, 2.5))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.npz", Checkpoint(SETTINGS, state))).state
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


def damaged_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    files = {}
    files["missing"] = tmp_path / "nothing.npz"
    files["text"] = tmp_path / "text.npz"
    files["text"].write_text("not a checkpoint\n")
    files["other npz"] = tmp_path / "other.npz"
    np.savez(files["other npz"], X=np.zeros(3))
    data = good.read_bytes()
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(data[: len(data) // 2])
    with np.load(good) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    files["newer"] = tmp_path / "newer.npz"
    np.savez(files["newer"], **{**arrays, "meta": np.array(json.dumps({**meta, "version": 99}))})
    files["short history"] = tmp_path / "short.npz"
    np.savez(files["short history"], **{**arrays, "history_loss": arrays["history_loss"][:-1]})
    files["no params"] = tmp_path / "noparams.npz"
    np.savez(files["no params"], **{k: v for k, v in arrays.items() if not k.startswith("params/")})
    return files


FRAGMENTS = {
    "missing": "does not exist",
    "text": "is not a symbp checkpoint",
    "other npz": "is not a symbp checkpoint",
    "truncated": "is not a symbp checkpoint",
    "newer": "format version 99",
    "short history": "is damaged",
    "no params": "is damaged",
}


def test_bad_checkpoint_files_are_refused_with_one_line(tmp_path, kernel):
    X, y = make_data()
    first = train(kernel, X, y, steps=20, stop_requested=stop_after(5))
    good = save_checkpoint(tmp_path / "good.npz", Checkpoint(SETTINGS, first.state))
    for what, path in damaged_files(tmp_path, good).items():
        with pytest.raises(UserError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert FRAGMENTS[what] in message and str(path) in message and "\n" not in message, (what, message)


# --- signals -------------------------------------------------------------------------


def test_stop_on_signals_records_the_first_and_lets_the_second_through():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignals() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs at the next bytecode boundary
        assert stop.requested() and stop.received == signal.SIGTERM
        # The first signal put the old handlers back: a second Ctrl-C interrupts at once.
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_stop_on_signals_restores_handlers_when_unused():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) != before[1]
    assert not stop.requested()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# --- the command line, in process ----------------------------------------------------


@pytest.fixture
def workdir(tmp_path, monkeypatch, kernel_path) -> Path:
    """A folder with kernel.py and data.npz, made the current folder."""
    (tmp_path / "kernel.py").write_bytes(kernel_path.read_bytes())
    X, y = make_data(n=80)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_diverged_run_saves_last_finite_params_and_exits_1(workdir, capsys):
    status = main(["train", "kernel.py", "--data", "data.npz", "--step-size", "2", "--steps", "500", "-o", "run"])
    out = capsys.readouterr().out
    assert status == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diverged, exit status 1: at step ")
    assert "exceeds 1e+06 × max(1, |R(a_0)|)" in lines[0] and "--step-size armijo" in lines[0]
    saved = np.load("run.params.npz")
    params = {name: saved[name] for name in ("W1", "b1", "W2", "b2")}
    assert all(np.isfinite(a).all() for a in params.values())
    history = Path("run.history.csv").read_text().splitlines()
    *kept, last = [line.split(",") for line in history[1:]]
    # The saved parameters are those of the second-to-last row: recompute its loss from them.
    k = symbp.load_kernel("kernel.py")
    X, y = make_data(n=80)
    assert float(kept[-1][1]) == k.loss(params, X, y)
    assert float(last[1]) > 1e6 * float(kept[0][1]) and f"after {len(kept) - 1} steps" in lines[0]
    assert not Path("run.checkpoint.npz").exists()


def test_cli_divergence_factor_inf_runs_to_nan(workdir, capsys):
    with np.errstate(all="ignore"):
        status = main(["train", "kernel.py", "--data", "data.npz", "--step-size", "2", "--steps", "5000", "--divergence-factor", "inf", "-o", "run"])
    out = capsys.readouterr().out
    assert status == 1 and ("the loss is nan" in out or "the loss is inf" in out or "gradient norm inf" in out), out
    saved = np.load("run.params.npz")
    assert all(np.isfinite(saved[name]).all() for name in saved.files)


def write_checkpoint(workdir: Path, nudge: float = 0.0) -> tuple[Path, RunnerState]:
    """A real checkpoint of a run of kernel.py on data.npz, made in process; ``nudge`` shifts its W1."""
    X, y = make_data(n=80)
    k = symbp.load_kernel(workdir / "kernel.py")
    state = train(k, X, y, steps=50, stop_requested=stop_after(10)).state
    if nudge:
        state = replace(state, params={**state.params, "W1": state.params["W1"] + nudge})
    settings = replace(
        SETTINGS, kernel=str(workdir / "kernel.py"), kernel_sha256=hashlib.sha256((workdir / "kernel.py").read_bytes()).hexdigest(),
        data=str(workdir / "data.npz"), data_sha256=data_sha256(X, y), target=None, steps=50, output=str(workdir / "run"),
    )
    return save_checkpoint(workdir / "run.checkpoint.npz", Checkpoint(settings, state)), state


@pytest.mark.parametrize("nudge", [0.0, 1e-3])
def test_cli_resume_goes_on_from_the_saved_state(workdir, capsys, nudge):
    checkpoint, state = write_checkpoint(workdir, nudge)
    assert main(["train", "--resume", str(checkpoint)]) == 0
    assert "50 steps, final loss R =" in capsys.readouterr().out
    X, y = make_data(n=80)
    k = symbp.load_kernel("kernel.py")
    whole, resumed = train(k, X, y, steps=50), train(k, X, y, steps=50, state=state)
    saved = np.load("run.params.npz")
    for name, value in resumed.params.items():
        np.testing.assert_array_equal(saved[name], value)
    # Unnudged, that is the uninterrupted run; nudged, it is not: the CLI did use the saved state.
    assert np.array_equal(saved["W1"], whole.params["W1"]) == (nudge == 0.0)
    assert not checkpoint.exists()  # the finished run removed its checkpoint


def bad_resumes(workdir: Path) -> dict[str, tuple[list[str], str]]:
    good, _ = write_checkpoint(workdir)
    files = damaged_files(workdir, good)
    cases = {what: (["--resume", str(path)], FRAGMENTS[what]) for what, path in files.items()}
    other = symbp.emit(symbp.derive(hidden=2, sigma="tanh"), workdir)
    X, y = make_data(n=80, seed=1)
    np.savez(workdir / "other.npz", X=X, y=y)
    cases["other kernel"] = ([str(other), "--resume", str(good)], "is not the kernel the run")
    cases["other data"] = (["--resume", str(good), "--data", "other.npz"], "differ from those the run")
    cases["other steps"] = (["--resume", str(good), "--steps", "49"], "--steps 49 differs from the run saved")
    cases["other rule"] = (["--resume", str(good), "--step-size", "0.1"], "--step-size 0.1 differs")
    cases["other seed"] = (["--resume", str(good), "--seed", "1"], "--seed 1 differs")
    cases["other batch"] = (["--resume", str(good), "--batch-size", "8"], "--batch-size 8 differs")
    cases["standardize"] = (["--resume", str(good), "--standardize"], "--standardize differs")
    cases["no kernel"] = (["--data", "data.npz"], "train needs KERNEL.py and --data FILE")
    cases["bad factor"] = (["kernel.py", "--data", "data.npz", "--divergence-factor", "0.5"], "--divergence-factor must be")
    return cases


def test_cli_bad_resume_is_one_line_and_status_2(workdir, capsys):
    cases = bad_resumes(workdir)
    before = {p.name: p.read_bytes() for p in workdir.iterdir()}
    for what, (args, fragment) in cases.items():
        status = main(["train", *args])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and fragment in lines[0], (what, captured.err)
        assert captured.out == ""
        assert {p.name: p.read_bytes() for p in workdir.iterdir()} == before, what  # nothing written or removed
    # The same settings typed again are fine, spelled another way too.
    assert main(["train", "--resume", "run.checkpoint.npz", "--steps", "50", "--step-size", "ARMIJO", "--seed", "0"]) == 0


def test_cli_signal_while_saving_keeps_the_finished_run(workdir, capsys, monkeypatch):
    """A Ctrl-C that comes once the steps are done, while the results are being written, loses nothing."""
    from symbp.training.fit import save_params

    def signal_then_save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Python handles it at once, before the next line
        return save_params(*args, **kwargs)

    monkeypatch.setattr(sys.modules["symbp.training.fit"], "save_params", signal_then_save)  # the module, not symbp.train the function
    status = main(["train", "kernel.py", "--data", "data.npz", "--steps", "20", "-o", "run", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0 and captured.out.startswith("20 steps, final loss R = "), captured.out
    assert captured.err == "symbp: SIGINT came after the last step; the run's outputs are written in full\n"
    assert (workdir / "run.params.npz").exists() and not (workdir / "run.checkpoint.npz").exists()
    assert len((workdir / "run.history.csv").read_text().splitlines()) == 1 + 21


# --- the command line, end to end: a real signal to a real process ----------------------


def catches(pid: int, signum: int) -> bool | None:
    """Whether process ``pid`` has a handler for ``signum`` (Linux /proc); None if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return None


def train_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symbp.cli", "train", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def train_and_signal(args: list[str], cwd: Path, signum: int, after: float = 0.15) -> subprocess.CompletedProcess:
    """Start `symbp train`, and once it is training send it ``signum``; return the finished process."""
    command = [sys.executable, "-m", "symbp.cli", "train", *args]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Python itself catches only SIGINT; a SIGTERM handler means StopOnSignals is active,
    # i.e. the kernel and data are loaded and the steps have begun.
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        known = catches(process.pid, signal.SIGTERM)
        if known is None:  # no /proc: guess generously
            time.sleep(3.0)
            break
        if known:
            break
        time.sleep(0.005)
    time.sleep(after)
    process.send_signal(signum)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def assert_same_outputs(prefix: Path, reference: Path) -> None:
    with np.load(f"{prefix}.params.npz") as got, np.load(f"{reference}.params.npz") as want:
        assert got.files == want.files
        for name in want.files:
            assert got[name].dtype == want[name].dtype and np.array_equal(got[name], want[name]), name
    assert Path(f"{prefix}.history.csv").read_bytes() == Path(f"{reference}.history.csv").read_bytes()


def interrupt_resume_compare(workdir: Path, args: list[str], steps: int, signals: list[int]) -> list[int]:
    """Run, interrupt with each of ``signals`` in turn (resuming after each), finish; compare with a run never interrupted.

    Returns the step counts at which the run was interrupted.  If the run ends
    before a signal arrives, it is tried again with four times as many steps.
    """
    for attempt in range(4):
        for old in workdir.glob("run.*"):
            old.unlink()
        stopped_at = []
        command = ["kernel.py", *args, "--steps", str(steps), "-o", "run"]
        for signum in signals:
            done = train_and_signal(command, workdir, signum)
            # Finished first (too few steps to interrupt): the signal came after the last step,
            # while the results were written (exit status 0) or as the process ended (killed by it).
            if done.returncode in (0, -signum) and "final loss R = " in done.stdout:
                break
            assert done.returncode == 128 + signum, done.stderr
            line = done.stdout.strip()
            assert "\n" not in line and line.startswith(f"symbp: {signal.Signals(signum).name} after ")
            assert "resume with: symbp train --resume run.checkpoint.npz" in line
            assert not (workdir / "run.params.npz").exists()
            stopped_at.append(int(line.split(" after ")[1].split(" of ")[0]))
            saved = load_checkpoint(workdir / "run.checkpoint.npz")
            assert saved.state.step == len(saved.state.history) == stopped_at[-1] and saved.settings.steps == steps
            command = ["--resume", "run.checkpoint.npz"]
        else:
            finished = train_cli(command, workdir)
            assert finished.returncode == 0, finished.stderr
            break
        steps *= 4
    else:
        pytest.fail("the run always finished before the signal arrived")
    reference = train_cli(["kernel.py", *args, "--steps", str(steps), "-o", "ref"], workdir)
    assert reference.returncode == 0, reference.stderr
    assert_same_outputs(workdir / "run", workdir / "ref")
    assert finished.stdout.split("; parameters in")[0] == reference.stdout.split("; parameters in")[0]
    assert not (workdir / "run.checkpoint.npz").exists()
    assert not list(workdir.glob(".*.partial"))
    assert 0 < stopped_at[0] and stopped_at == sorted(stopped_at) and stopped_at[-1] < steps
    return stopped_at


@pytest.mark.slow
def test_sigint_then_resume_full_batch_armijo_is_bit_identical(workdir):
    interrupt_resume_compare(workdir, ["--data", "data.npz"], steps=20000, signals=[signal.SIGINT])


@pytest.mark.slow
def test_sigint_then_resume_minibatch_constant_is_bit_identical(workdir):
    X, y = make_data(n=80)
    np.savetxt(workdir / "data.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="", fmt="%.17g")
    args = ["--data", "data.csv", "--target", "y", "--standardize", "--step-size", "0.01", "--batch-size", "7", "--seed", "5"]
    interrupt_resume_compare(workdir, args, steps=8000, signals=[signal.SIGINT])


@pytest.mark.slow
def test_sigterm_twice_then_resume_minibatch_armijo_is_bit_identical(workdir):
    args = ["--data", "data.npz", "--step-size", "armijo", "--batch-size", "16", "--seed", "2"]
    stopped_at = interrupt_resume_compare(workdir, args, steps=6000, signals=[signal.SIGTERM, signal.SIGINT])
    assert len(stopped_at) == 2
