"""Red team, findings 11-12: one line for every bad checkpoint, output folder and early Ctrl-C; numbers that overflow refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import SLOW, cli, read_only_folder, slow_after
from tests.redteam.conftest import rewrite_meta, write_checkpoint

# --- 11. mutated checkpoints: every one a line (exit 2) or a run that resumes (exit 0), never a traceback ------------

WRONG_VALUES = [None, "no", "", True, 1.5, -1, 10**30, [], {}, "x" * 10_000]


def setting_mutations():
    for field in ("kernel_sha256", "data", "data_sha256", "target", "steps", "step_size", "batch_size", "seed", "tol",
                  "patience", "standardize", "divergence_factor", "output", "trust", "min_improvement"):
        for value in WRONG_VALUES[:5]:
            yield f"settings.{field}={value!r}"[:60], (lambda field, value: lambda meta: meta["settings"].__setitem__(field, value))(field, value)
    for key in ("step", "param_names", "has_previous", "last_gamma", "pending", "rng", "position"):
        for value in (None, "1", -1, [], {"a": 1}, 2**70):
            yield f"state.{key}={value!r}", (lambda key, value: lambda meta: meta["state"].__setitem__(key, value))(key, value)
    yield "param names repeated", lambda meta: meta["state"].__setitem__("param_names", meta["state"]["param_names"] * 2)
    yield "unknown param name", lambda meta: meta["state"]["param_names"].__setitem__(0, "W9")
    yield "a setting missing", lambda meta: meta["settings"].pop("steps")
    yield "a setting too many", lambda meta: meta["settings"].__setitem__("evil", 1)
    yield "meta a list", lambda meta: (meta.clear(), meta.__setitem__("format", ["symbp-checkpoint"]))


def array_mutations():
    yield "params of the wrong shape", lambda arrays: arrays.__setitem__("params/W1", np.zeros((7, 7)))
    yield "params of ints", lambda arrays: arrays.__setitem__("params/W1", np.zeros((1, 2), dtype=np.int64))
    yield "params of text", lambda arrays: arrays.__setitem__("params/W1", np.array(["a", "b"]))
    yield "a 2-D history", lambda arrays: arrays.__setitem__("history_loss", np.zeros((3, 2)))
    yield "history of text", lambda arrays: arrays.__setitem__("history_step", np.array(["0", "1", "2"]))
    yield "order not a permutation", lambda arrays: arrays.__setitem__("order", np.zeros(40, dtype=np.int64))
    yield "meta a number", lambda arrays: arrays.__setitem__("meta", np.array(3.0))
    yield "meta deeply nested", lambda arrays: arrays.__setitem__("meta", np.array("[" * 100_000 + "]" * 100_000))
    yield "meta not JSON", lambda arrays: arrays.__setitem__("meta", np.array("{'format': 1}"))
    yield "previous missing", lambda arrays: arrays.pop("previous/W1")


def mutated_checkpoints(folder):
    good = write_checkpoint(folder)
    with np.load(good) as npz:
        arrays = {name: npz[name] for name in npz.files}
    cases = {}
    for number, (what, change) in enumerate(setting_mutations()):
        path = folder / f"m{number}.npz"
        path.write_bytes(good.read_bytes())
        cases[what] = rewrite_meta(path, change)
    for number, (what, change) in enumerate(array_mutations()):
        path = folder / f"a{number}.npz"
        changed = dict(arrays)
        change(changed)
        np.savez(path, **changed)
        cases[what] = path
    return cases


@pytest.mark.parametrize("every", [False, pytest.param(True, marks=SLOW)], ids=["one of each kind", "all"])
def test_11_every_mutated_checkpoint_is_one_line_or_resumes(workdir, every):
    cases = mutated_checkpoints(workdir)
    assert len(cases) >= 65
    if not every:  # the quick loop: one wrong value per field, and every mutation of the arrays
        cases = {what: path for position, (what, path) in enumerate(cases.items()) if position % 10 == 0 or not what.startswith(("settings.", "state."))}
    outcomes = {}
    for what, path in cases.items():
        done = cli("train", "kernel.py", "--resume", str(path), "-o", "out", "--quiet", cwd=workdir)
        lines = done.stderr.strip().splitlines()
        assert done.returncode in (0, 2), (what, done.returncode, done.stderr[-1500:])
        if done.returncode == 2:
            assert len(lines) == 1 and len(lines[0]) <= 700, (what, done.stderr[-1500:])
        outcomes[what] = done.returncode
    # The mutations that resume are values of the right type that a run may have (another tolerance, say), fields
    # symbp no longer reads (output, trust), or state a full-batch run does not use (the shuffling's place).
    resumed = {what for what, code in outcomes.items() if code == 0}
    assert all(what.startswith(HARMLESS) for what in resumed), sorted(resumed)
    assert len(outcomes) - len(resumed) >= (100 if every else 15)


HARMLESS = (
    "settings.target=", "settings.batch_size=None", "settings.tol=1.5", "settings.patience=None", "settings.standardize=True",
    "settings.divergence_factor=", "settings.min_improvement=1.5", "settings.output=", "settings.trust=True",
    "state.last_gamma=", "state.pending=None", "state.rng=None", "state.position=",
)


@pytest.mark.parametrize("command", slow_after(["emit", "demo"]))
def test_11_an_output_folder_under_a_read_only_parent_is_one_line(tmp_path, command):
    locked = read_only_folder(tmp_path)
    args = ["emit", "--hidden", "2", "--out", str(locked / "sub")] if command == "emit" else ["demo", "--out", str(locked / "sub")]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "cannot" in done.stderr, done.stderr


@SLOW
def test_11_ctrl_c_during_start_up_is_one_line(workdir):
    """SIGINT at moments spread over the start of a run (imports, loading, reading): one line, never a traceback.

    The first moment is 0.3 s in: before that, on a loaded machine, the interpreter may still be starting
    (its own imports, where a Ctrl-C is Python's traceback, not symbp's)."""
    for delay in (0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.3):
        process = subprocess.Popen([sys.executable, "-m", "symbp.cli", "train", "kernel.py", "--data", "data.npz", "--steps", "100000",
                                    "-o", "r", "--quiet"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert "Traceback" not in err and len((out + err).strip().splitlines()) <= 1, (delay, out, err)
        assert process.returncode == 130, (delay, process.returncode, err)


# --- 12. numbers and texts out of range -----------------------------------------------------------


@pytest.fixture
def huge_column(workdir):
    X = np.random.default_rng(0).standard_normal((40, 3))
    X[:, 1] = np.where(np.arange(40) % 2, 1e308, -1e308)
    np.savez(workdir / "huge.npz", X=X, y=np.sin(X[:, 0]))
    return workdir / "huge.npz"


@pytest.mark.parametrize("standardize", slow_after([True, False]))
def test_12_a_column_of_1e308_is_refused_with_or_without_standardize(workdir, huge_column, standardize):
    done = cli("train", "kernel.py", "--data", "huge.npz", "--steps", "5", *(["--standardize"] if standardize else []), cwd=workdir)
    assert done.returncode == 2 and "the inputs reach 1e+308 in magnitude" in done.stderr, done.stderr
    assert not list(workdir.glob("kernel.*.npz"))


@pytest.mark.parametrize("option", slow_after(["--sigma", "--g", "--l2", "--hidden", "--inputs"]))
def test_12_a_100000_character_option_is_not_echoed_whole(tmp_path, option):
    done = cli("derive", f"{option}={'x' * 100_000}", cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and len(lines[0]) <= 700, lines[0][:200]


def test_12_a_100000_character_checkpoint_field_is_not_echoed_whole(workdir):
    checkpoint = write_checkpoint(workdir, kernel="k" * 100_000)
    done = cli("train", "--resume", str(checkpoint), cwd=workdir)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and len(lines[0]) <= 700


def test_12_json_is_what_the_checkpoint_writes(workdir):
    """The mutations above are of the JSON symbp writes: a good checkpoint's metadata reads back as it was written."""
    with np.load(write_checkpoint(workdir)) as npz:
        meta = json.loads(str(npz["meta"][()]))
    assert meta["format"] == "symbp-checkpoint" and meta["settings"]["trust"] is False
