"""Red team, findings 8-9: no output destroys an input, no half result, exit status 2 only when nothing was written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from symbp.training.checkpoint import load_checkpoint
from tests.helpers import ROOT, SLOW, cli, read_only_folder, run_symbp, slow_after, small_disk


def snapshot(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


# --- 8. outputs that would collide with inputs or with each other ------------------------------

COLLISIONS = [
    (["--checkpoint", "data.npz"], "--checkpoint data.npz is the same file as --data data.npz"),
    (["--checkpoint", "kernel.py"], "--checkpoint kernel.py is the same file as KERNEL.py kernel.py"),
    (["-o", "r", "--checkpoint", "r.params.npz"], "are the same file"),
    (["-o", "data", "--data", "data.params.npz"], "is the same file as --data"),
    (["--plot", "data.npz"], "must end in .png"),
    (["-o", "r", "--plot", "./r.history.png", "--checkpoint", "r.history.png"], "are the same file"),
]


@pytest.mark.parametrize(("options", "fragment"), slow_after(COLLISIONS, unpack=True), ids=[" ".join(o) for o, _ in COLLISIONS])
def test_8_an_output_that_would_replace_an_input_or_another_output_is_refused_before_training(workdir, options, fragment):
    if "data.params.npz" in options:
        shutil.copy(workdir / "data.npz", workdir / "data.params.npz")
    before = snapshot(workdir)
    args = ["train", "kernel.py", "--data", "data.npz", "--steps", "5", *options]
    if "--data" in options:
        args = ["train", "kernel.py", "--steps", "5", *options]
    done = cli(*args, cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and fragment in done.stderr, done.stderr
    assert snapshot(workdir) == before


def test_8_a_resumed_run_never_removes_its_final_parameters(workdir):
    """-o r --checkpoint r.params.npz, then --resume: refused at the start; nothing reported, nothing removed."""
    done = cli("train", "kernel.py", "--data", "data.npz", "-o", "r", "--checkpoint", "r.params.npz", cwd=workdir)
    assert done.returncode == 2 and not (workdir / "r.params.npz").exists()


def test_8_an_output_that_is_a_folder_is_refused_before_training(workdir):
    (workdir / "r.history.csv").mkdir()
    done = cli("train", "kernel.py", "--data", "data.npz", "-o", "r", cwd=workdir)
    assert done.returncode == 2 and "r.history.csv is a folder" in done.stderr
    assert not (workdir / "r.params.npz").exists()


@pytest.mark.parametrize("option", slow_after(["--plot", "-o", "--checkpoint"]))
def test_8_an_output_in_a_folder_that_cannot_be_written_is_refused_before_training(workdir, option):
    locked = read_only_folder(workdir)
    target = {"--plot": locked / "loss.png", "-o": locked / "r", "--checkpoint": locked / "r.checkpoint.npz"}[option]
    done = cli("train", "kernel.py", "--data", "data.npz", option, str(target), cwd=workdir)
    assert done.returncode == 2 and "is not writable" in done.stderr, done.stderr
    assert not list(workdir.glob("*.params.npz"))


# --- 9. the outputs of a run as one unit; the work kept when they cannot be written ----------------


def previous_run(workdir):
    """The outputs of an earlier run under prefix r (seed 1): what a failed run must leave untouched."""
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "4", "--seed", "1", "-o", "r", "--quiet", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return snapshot(workdir)


@SLOW
def test_9_a_full_disk_writes_nothing_and_says_the_run_is_lost(workdir):
    """Every write beyond 1 kB fails (RLIMIT_FSIZE: EFBIG, as ENOSPC on a full disk): no output, no mix, exit 74."""
    before = previous_run(workdir)
    done = run_symbp("train", "kernel.py", "--data", "data.npz", "--steps", "20", "-o", "r", "--quiet", cwd=workdir, file_size=1024)
    assert done.returncode == 74 and len(done.stderr.splitlines()) == 1 and "nothing was written" in done.stderr, done.stderr
    assert snapshot(workdir) == before and not list(workdir.glob(".*partial"))


def test_9_a_full_disk_keeps_the_trained_state_in_a_checkpoint_elsewhere(workdir):
    disk = small_disk(workdir, free=1024)
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "20", "-o", str(disk / "r"), "--quiet", cwd=workdir)
    assert done.returncode == 75 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "the run's state is kept in the checkpoint" in done.stderr and "No space left on device" in done.stderr
    kept = done.stderr.split("kept in the checkpoint ")[1].split("; resume with")[0]
    assert not kept.startswith(str(disk)) and load_checkpoint(kept).state.step == 20
    assert (Path(kept).parent.stat().st_mode & 0o777) == 0o700  # a folder of its own, no name another user could take first
    assert sorted(path.name for path in disk.iterdir()) == ["filler"]
    (disk / "filler").unlink()
    resumed = cli("train", "kernel.py", "--resume", kept, "-o", str(disk / "r"), "--quiet", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    whole = cli("train", "kernel.py", "--data", "data.npz", "--steps", "20", "-o", "whole", "--quiet", cwd=workdir)
    assert whole.returncode == 0
    assert (disk / "r.history.csv").read_bytes() == (workdir / "whole.history.csv").read_bytes()
    with np.load(disk / "r.params.npz") as got, np.load(workdir / "whole.params.npz") as want:
        assert all(np.array_equal(got[name], want[name]) for name in want.files)


def test_9_ctrl_c_on_a_full_disk_keeps_the_checkpoint_elsewhere(workdir, monkeypatch):
    import signal

    from symbp import session
    from tests.test_session import SignalAt

    disk = small_disk(workdir, free=1024)
    monkeypatch.setattr(session, "Silent", lambda: SignalAt(5, signal.SIGINT))
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "20", "-o", str(disk / "r"), "--quiet", cwd=workdir)
    assert done.returncode == 75 and "kept in the checkpoint" in done.stderr, (done.returncode, done.stderr)
    kept = done.stderr.split("kept in the checkpoint ")[1].split("; resume with")[0]
    assert load_checkpoint(kept).state.step == 6


KILLED_BETWEEN_RENAMES = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from symbp import files

    replaced = []
    real = os.replace

    def replace(source, target):
        real(source, target)
        replaced.append(target)
        if len(replaced) == 2:  # the journal, then the first output: killed before the second
            os.kill(os.getpid(), 9)

    files.os.replace = replace
    files.write_files_atomic({{"r.params.npz": b"new params", "r.history.csv": b"new history"}})
    """
)


def test_9_a_kill_between_two_output_renames_leaves_no_mix_and_the_next_write_finishes_the_unit(tmp_path):
    (tmp_path / "r.params.npz").write_bytes(b"old params")
    (tmp_path / "r.history.csv").write_bytes(b"old history")
    done = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RENAMES.format(root=str(ROOT))], cwd=tmp_path, capture_output=True)
    assert done.returncode == -9, done.stderr
    # Killed after the first rename: the new parameters, and no history (never the old run's beside them).
    assert (tmp_path / "r.params.npz").read_bytes() == b"new params" and not (tmp_path / "r.history.csv").exists()
    from symbp.files import write_bytes_atomic

    write_bytes_atomic(tmp_path / "other.txt", b"x")  # any later write into the folder finishes the unit
    assert (tmp_path / "r.history.csv").read_bytes() == b"new history"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.txt", "r.history.csv", "r.params.npz"]


@SLOW
def test_9_sigkill_at_random_moments_never_leaves_outputs_of_two_runs(workdir):
    """The attacker's experiment: runs with two seeds into one prefix, each killed at a random moment."""
    import random
    import time

    references = {}
    for seed in ("1", "2"):
        done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "300", "--seed", seed, "-o", f"ref{seed}", "--quiet", cwd=workdir)
        references[seed] = ((workdir / f"ref{seed}.params.npz").read_bytes(), (workdir / f"ref{seed}.history.csv").read_bytes())
    rng = random.Random(16)
    for attempt in range(13):
        seed = "12"[attempt % 2]
        process = subprocess.Popen([sys.executable, "-m", "symbp.cli", "train", "kernel.py", "--data", "data.npz", "--steps", "300",
                                    "--seed", seed, "-o", "r", "--quiet"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.2))
        process.kill()
        process.wait()
        write = workdir / "tick.txt"
        from symbp.files import write_bytes_atomic

        write_bytes_atomic(write, b"x")  # finishes a unit cut short
        params, history = workdir / "r.params.npz", workdir / "r.history.csv"
        pair = (params.read_bytes() if params.exists() else None, history.read_bytes() if history.exists() else None)
        assert pair == (None, None) or pair in references.values(), f"attempt {attempt}: outputs of two runs"
