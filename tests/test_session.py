"""Tests for symbp/session.py, which does what `symbp train` does: from Python, and through the command line
(in process and as a real process sent real signals): a stopped run goes on bit for bit, mistakes change nothing."""

from __future__ import annotations

import hashlib
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
from symbp.cli import main
from symbp.errors import UserError
from symbp.session import SessionRequest, SessionResult, train_session
from symbp.training import RunnerState, RunSettings, StopReason
from symbp.training.checkpoint import Checkpoint, RunRecord, data_sha256, load_checkpoint, save_checkpoint
from symbp.training.fit import train
from tests.helpers import damaged_checkpoints, noisy_regression, stop_after

make_data = noisy_regression


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    return symbp.emit(symbp.derive(hidden=3, sigma="tanh"), tmp_path_factory.mktemp("kernel"))


# --- the command line, in process ----------------------------------------------------


@pytest.fixture
def workdir(tmp_path, monkeypatch, kernel_path) -> Path:
    """A folder with kernel.py and data.npz, made the current folder."""
    (tmp_path / "kernel.py").write_bytes(kernel_path.read_bytes())
    X, y = make_data(n=80)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_diverged_run_saves_the_best_params_seen_and_exits_1(workdir, capsys):
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
    # The saved parameters are those of the row with the lowest loss: recompute its loss from them.
    best = min(range(len(kept)), key=lambda row: float(kept[row][1]))
    k = symbp.load_kernel("kernel.py")
    X, y = make_data(n=80)
    assert float(kept[best][1]) == k.loss(params, X, y)
    assert float(last[1]) > 1e6 * float(kept[0][1]) and f"saved the best parameters seen, after {best} steps" in lines[0]
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
    record = RunRecord(
        kernel=str(workdir / "kernel.py"), kernel_sha256=hashlib.sha256((workdir / "kernel.py").read_bytes()).hexdigest(),
        data=str(workdir / "data.npz"), data_sha256=data_sha256(X, y), target=None, standardize=False,
        output=str(workdir / "run"), trust=False, settings=RunSettings(steps=50, step_size="armijo", divergence_factor=1e6),
    )
    return save_checkpoint(workdir / "run.checkpoint.npz", Checkpoint(record, state)), state


@pytest.mark.parametrize("nudge", [0.0, 1e-3])
def test_cli_resume_goes_on_from_the_saved_state(workdir, capsys, nudge):
    checkpoint, state = write_checkpoint(workdir, nudge)
    assert main(["train", "kernel.py", "--resume", str(checkpoint)]) == 0
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
    cases = {what: (["kernel.py", "--resume", str(path)], fragment) for what, (path, fragment) in damaged_checkpoints(workdir, good).items()}
    other = symbp.emit(symbp.derive(hidden=2, sigma="tanh"), workdir)
    X, y = make_data(n=80, seed=1)
    np.savez(workdir / "other.npz", X=X, y=y)
    cases["other kernel"] = ([str(other), "--resume", str(good)], "is not the kernel the run")
    cases["other data"] = (["kernel.py", "--resume", str(good), "--data", "other.npz"], "differ from those the run")
    cases["other steps"] = (["kernel.py", "--resume", str(good), "--steps", "49"], "--steps 49 differs from the run saved")
    cases["other rule"] = (["kernel.py", "--resume", str(good), "--step-size", "0.1"], "--step-size 0.1 differs")
    cases["other seed"] = (["kernel.py", "--resume", str(good), "--seed", "1"], "--seed 1 differs")
    cases["other batch"] = (["kernel.py", "--resume", str(good), "--batch-size", "8"], "--batch-size 8 differs")
    cases["standardize"] = (["kernel.py", "--resume", str(good), "--standardize"], "--standardize differs")
    cases["no kernel"] = (["--data", "data.npz"], "train needs KERNEL.py and --data FILE")
    cases["resume without the kernel"] = (["--resume", str(good)], "needs the kernel on the command line")
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
    assert main(["train", "kernel.py", "--resume", "run.checkpoint.npz", "--steps", "50", "--step-size", "ARMIJO", "--seed", "0"]) == 0


def test_cli_signal_while_saving_keeps_the_finished_run(workdir, capsys, monkeypatch):
    """A Ctrl-C that comes once the steps are done, while the results are being written, loses nothing."""
    from symbp.training.outputs import write_outputs

    def signal_then_save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Python handles it at once, before the next line
        return write_outputs(*args, **kwargs)

    monkeypatch.setattr(sys.modules["symbp.session"], "write_outputs", signal_then_save)
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
            assert "resume with: symbp train kernel.py --resume run.checkpoint.npz" in line
            assert not (workdir / "run.params.npz").exists()
            stopped_at.append(int(line.split(" after ")[1].split(" of ")[0]))
            saved = load_checkpoint(workdir / "run.checkpoint.npz")
            assert saved.state.step == len(saved.state.history) == stopped_at[-1] and saved.record.settings.steps == steps
            command = ["kernel.py", "--resume", "run.checkpoint.npz"]
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


# --- the session from Python -----------------------------------------------------------------


def outputs_of(prefix: Path) -> tuple[dict[str, np.ndarray], bytes]:
    with np.load(f"{prefix}.params.npz") as npz:
        return {name: npz[name] for name in npz.files}, Path(f"{prefix}.history.csv").read_bytes()


@pytest.mark.parametrize(
    "options",
    [
        dict(steps=30, standardize=True),
        dict(steps=40, step_size="0.01", batch_size=7, seed=3),
        dict(steps=200, step_size="armijo:0.5", batch_size=16, patience=5, tol=0.5),
        dict(steps=20, step_size="2", divergence_factor="50"),
    ],
    ids=["standardised", "mini-batch", "patience", "diverged"],
)
def test_the_session_from_python_writes_what_the_command_line_writes(workdir, capsys, options):
    args = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    status = main(["train", "kernel.py", "--data", "data.npz", "-o", "cli", "--quiet", *args])
    report = capsys.readouterr().out
    outcome = train_session(SessionRequest(kernel="kernel.py", data="data.npz", output="python", progress=False, **options))
    assert capsys.readouterr() == ("", "")  # the session prints nothing: the command line prints its report
    assert isinstance(outcome, SessionResult) and not outcome.interrupted and outcome.signal is None
    assert (outcome.params_path, outcome.history_path) == (Path("python.params.npz"), Path("python.history.csv"))
    assert outcome.checkpoint_path == Path("python.checkpoint.npz") and outcome.plot_path is None
    (cli_params, cli_history), (params, history) = outputs_of(Path("cli")), outputs_of(Path("python"))
    assert history == cli_history and cli_params.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(params[name], cli_params[name])
    assert status == (1 if outcome.run.reason is StopReason.DIVERGED else 0)
    if outcome.run.reason is StopReason.DIVERGED:
        assert f"after {outcome.run.steps} steps" in report
    else:
        assert report.startswith(f"{outcome.run.history[-1].step} steps, final loss R = {outcome.final_loss:.6g},")
    assert outcome.record.output == str(workdir / "python") and outcome.record.data == str(workdir / "data.npz")
    assert outcome.record.standardize == options.get("standardize", False)


def test_the_session_takes_a_rule_object_and_records_its_spelling(workdir):
    outcome = train_session(SessionRequest(kernel="kernel.py", data="data.npz", steps=5, step_size=symbp.training.Constant(0.01), progress=False))
    assert outcome.record.settings.step_size_spelling == "constant:0.01" and outcome.run.steps == 5
    with pytest.raises(UserError, match="has no spelling"):
        train_session(SessionRequest(kernel="kernel.py", data="data.npz", step_size=symbp.training.Armijo(c=0.5), progress=False))


def test_the_session_resumes_from_python_and_removes_the_checkpoint(workdir):
    checkpoint, state = write_checkpoint(workdir, nudge=1e-3)
    outcome = train_session(SessionRequest(kernel="kernel.py", resume=checkpoint, progress=False))
    X, y = make_data(n=80)
    resumed = train(symbp.load_kernel("kernel.py"), X, y, steps=50, state=state)
    assert outcome.run.history == resumed.history and outcome.run.steps == 50
    assert outcome.params_path == Path(f"{workdir / 'run'}.params.npz") and not checkpoint.exists()
    assert outcome.record == load_record_of(resumed, workdir)


def load_record_of(result, workdir: Path) -> RunRecord:
    X, y = make_data(n=80)
    return RunRecord(
        kernel=str(workdir / "kernel.py"), kernel_sha256=hashlib.sha256((workdir / "kernel.py").read_bytes()).hexdigest(),
        data=str(workdir / "data.npz"), data_sha256=data_sha256(X, y), target=None, standardize=False,
        output=str(workdir / "run"), trust=False, settings=RunSettings(steps=50, step_size="armijo", divergence_factor=1e6),
    )


class SignalAt:
    """A progress reporter that sends this process ``signum`` when step ``step`` is recorded."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def __call__(self, row) -> None:
        if row.step == self.step:
            os.kill(os.getpid(), self.signum)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_a_signal_stops_the_session_with_a_checkpoint_and_a_resumed_session_ends_as_one_never_stopped(workdir, monkeypatch):
    request = SessionRequest(kernel="kernel.py", data="data.npz", steps=60, batch_size=9, step_size="armijo", output="run", progress=False)
    session = sys.modules["symbp.session"]
    quiet = session.Silent
    monkeypatch.setattr(session, "Silent", lambda: SignalAt(12, signal.SIGTERM))
    stopped = train_session(request)
    assert stopped.interrupted and stopped.signal is signal.SIGTERM and stopped.run.steps == 13
    assert stopped.checkpoint_path == Path("run.checkpoint.npz") and stopped.checkpoint_path.exists()
    assert not Path("run.params.npz").exists() and not Path("run.history.csv").exists()
    monkeypatch.setattr(session, "Silent", quiet)
    resumed = train_session(SessionRequest(kernel="kernel.py", resume="run.checkpoint.npz", progress=False))
    whole = train_session(replace(request, output="whole"))
    assert resumed.run.history == whole.run.history and resumed.record.settings == whole.record.settings
    assert outputs_of(Path("run"))[1] == outputs_of(Path("whole"))[1]
    assert not Path("run.checkpoint.npz").exists()


def test_a_mistake_raises_one_user_error_and_writes_nothing(workdir):
    before = sorted(p.name for p in workdir.iterdir())
    for request, fragment in [
        (SessionRequest(data="data.npz"), "train needs KERNEL.py and --data FILE"),
        (SessionRequest(kernel="kernel.py", data="data.npz", divergence_factor="0.5"), "--divergence-factor must be"),
        (SessionRequest(kernel="kernel.py", data="data.npz", step_size="fast"), "invalid step size 'fast'"),
        (SessionRequest(kernel="kernel.py", data="data.npz", output="nofolder/run"), "the folder nofolder does not exist"),
    ]:
        with pytest.raises(UserError, match=fragment):
            train_session(request)
    assert sorted(p.name for p in workdir.iterdir()) == before


# --- validation data and the summary's numbers -----------------------------------------------


def read_history(path: Path) -> tuple[list[str], list[list[str]]]:
    header, *rows = Path(path).read_text().splitlines()
    return header.split(","), [row.split(",") for row in rows]


def test_validation_fraction_holds_out_seeded_rows_and_saves_the_parameters_where_their_loss_was_lowest(workdir, capsys):
    status = main(["train", "kernel.py", "--data", "data.npz", "--validation", "0.25", "--seed", "4", "--steps", "300",
                   "--step-size", "0.005", "--standardize", "-o", "run", "--quiet"])
    report = capsys.readouterr().out
    assert status == 0
    header, rows = read_history(Path("run.history.csv"))
    assert header == ["step", "loss", "grad_norm", "gamma", "validation_loss"] and all(row[4] for row in rows)
    # An independent split: the rows chosen by the same seed, standardised with the training rows' statistics alone.
    X, y = make_data(n=80)
    held = np.zeros(80, dtype=bool)
    held[np.random.default_rng(4).permutation(80)[:20]] = True
    mean, scale = X[~held].mean(axis=0), X[~held].std(axis=0)
    saved = np.load("run.params.npz")
    np.testing.assert_allclose(saved["x_mean"], mean, rtol=1e-12)
    params = {name: saved[name] for name in ("W1", "b1", "W2", "b2")}
    k = symbp.load_kernel("kernel.py")
    validation = [float(row[4]) for row in rows]
    best = int(np.argmin(validation))
    assert k.loss(params, (X[held] - mean) / saved["x_scale"], y[held]) == pytest.approx(validation[best], rel=1e-12)
    train_loss = k.loss(params, (X[~held] - mean) / saved["x_scale"], y[~held])
    assert train_loss == pytest.approx(float(rows[best][1]), rel=1e-12)
    assert report.startswith(f"300 steps, final loss R = {train_loss:.6g},")
    assert f"saved: the parameters of step {best}, where the loss on the 20 validation rows was lowest ({validation[best]:.6g})" in report


def test_validation_data_from_a_file_drive_patience_and_a_resumed_run_ends_as_one_never_stopped(workdir, monkeypatch):
    X, y = make_data(n=30, seed=7)
    np.savez("validation.npz", X=X, y=y)
    request = SessionRequest(kernel="kernel.py", data="data.npz", validation_data="validation.npz", steps=400, step_size="0.005",
                             patience=15, output="run", progress=False)
    session = sys.modules["symbp.session"]
    quiet = session.Silent
    monkeypatch.setattr(session, "Silent", lambda: SignalAt(9, signal.SIGINT))
    stopped = train_session(request)
    assert stopped.interrupted and load_checkpoint("run.checkpoint.npz").record.validation_data == str(workdir / "validation.npz")
    monkeypatch.setattr(session, "Silent", quiet)
    resumed = train_session(SessionRequest(kernel="kernel.py", resume="run.checkpoint.npz", progress=False))
    whole = train_session(replace(request, output="whole"))
    assert outputs_of(Path("run"))[1] == outputs_of(Path("whole"))[1]
    assert resumed.run.watched == whole.run.watched and resumed.validation_loss == whole.validation_loss
    # Patience watched the validation loss: the run stopped 15 steps after its lowest point, and saved that point.
    header, rows = read_history(Path("whole.history.csv"))
    validation = [float(row[header.index("validation_loss")]) for row in rows]
    assert whole.run.reason is StopReason.NO_IMPROVEMENT and whole.run.steps == int(np.argmin(validation))
    k = symbp.load_kernel("kernel.py")
    assert k.loss(whole.run.params, X, y) == whole.validation_loss == min(validation)


def test_validation_data_of_another_run_or_given_twice_is_refused(workdir, capsys):
    X, y = make_data(n=30, seed=7)
    np.savez("validation.npz", X=X, y=y)
    np.savez("other.npz", X=X, y=y + 1)
    before = sorted(p.name for p in workdir.iterdir())
    for args, fragment in [
        (["--validation", "0.2", "--validation-data", "validation.npz"], "not allowed with argument"),
        (["--validation", "1.5"], "--validation must be a fraction between 0 and 1"),
        (["--validation", "0.001"], "leaves no validation rows"),
        (["--validation-data", "validation.npz", "-o", "validation"], None),  # writes validation.params.npz: allowed
        (["--validation-data", "run.params.npz", "-o", "run"], "run.params.npz"),
        (["--validation", "0.2", "--dask"], "not available with --dask"),
    ]:
        try:
            status = main(["train", "kernel.py", "--data", "data.npz", "--steps", "5", "--quiet", *args])
        except SystemExit as exit:  # argparse's own refusals
            status = exit.code
        err = capsys.readouterr().err
        if fragment is None:
            assert status == 0
            for name in ("validation.params.npz", "validation.history.csv"):
                Path(name).unlink()
            continue
        assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, (args, err)
    assert sorted(p.name for p in workdir.iterdir()) == before
    main(["train", "kernel.py", "--data", "data.npz", "--validation-data", "validation.npz", "--steps", "30", "-o", "run",
          "--quiet", "--checkpoint", "run.checkpoint.npz"])
    capsys.readouterr()
    checkpoint, _ = write_checkpoint(workdir)
    status = main(["train", "kernel.py", "--resume", str(checkpoint), "--validation-data", "other.npz"])
    assert status == 2 and "has no validation data" in capsys.readouterr().err


def test_a_mini_batch_run_reports_r_of_the_saved_parameters_on_all_the_data(workdir, capsys):
    status = main(["train", "kernel.py", "--data", "data.npz", "--batch-size", "16", "--steps", "100", "--step-size", "0.01",
                   "--patience", "30", "-o", "run", "--quiet"])
    report = capsys.readouterr().out
    assert status == 0
    header, rows = read_history(Path("run.history.csv"))
    assert header == ["step", "batch_loss", "grad_norm", "gamma", "full_loss"]
    full = {int(row[0]): float(row[4]) for row in rows if row[4]}
    assert set(full) >= set(range(0, len(rows) - 1, 5)) and int(rows[-1][0]) in full  # every epoch (80/16 = 5 steps) and the last
    saved = np.load("run.params.npz")
    X, y = make_data(n=80)
    final = symbp.load_kernel("kernel.py").loss({name: saved[name] for name in saved.files}, X, y)
    assert final == min(full.values())  # the saved parameters are those where R on all the data was lowest
    assert f"final loss R = {final:.6g}," in report and "on all 80 training rows" in report and "every 5 steps" in report
