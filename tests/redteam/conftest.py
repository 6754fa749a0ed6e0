"""Fixtures of the red-team suite: a kernel emitted by this symbp, its data, a real checkpoint of a run, a canary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from symbp.kernel.emit import emit
from symbp.training.checkpoint import Checkpoint, RunRecord, data_sha256, save_checkpoint
from symbp.training.fit import train
from symbp.training.settings import RunSettings
from tests.helpers import derive, noisy_regression, stop_after


@pytest.fixture
def canary(tmp_path) -> Path:
    """A file that hostile code would create: its absence shows that no code ran."""
    return tmp_path / "canary"


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A folder with kernel.py (emitted here, p = 3) and data.npz, the current folder of the test."""
    emit(derive(hidden=2, sigma="tanh", inputs=3), tmp_path, name="kernel")
    X, y = noisy_regression(n=40)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_checkpoint(folder: Path, **settings: object) -> Path:
    """A real checkpoint of a run of kernel.py on data.npz, stopped after 3 of 20 steps; ``settings`` replace fields of its JSON."""
    from symbp.kernel.load import load_kernel

    X, y = noisy_regression(n=40)
    kernel = load_kernel(folder / "kernel.py")
    state = train(kernel, X, y, steps=20, stop_requested=stop_after(3)).state
    record = RunRecord(
        kernel=str(folder / "kernel.py"), kernel_sha256=hashlib.sha256((folder / "kernel.py").read_bytes()).hexdigest(),
        data=str(folder / "data.npz"), data_sha256=data_sha256(X, y), target=None, standardize=False,
        output=str(folder / "run"), trust=False, settings=RunSettings(steps=20),
    )
    path = save_checkpoint(folder / "run.checkpoint.npz", Checkpoint(record, state))
    if settings:
        rewrite_meta(path, lambda meta: meta["settings"].update(settings))
    return path


def rewrite_meta(path: Path, change) -> Path:
    """Change a checkpoint's JSON metadata in place with ``change(meta)`` (the arrays are kept)."""
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return path


def hostile_kernel(genuine: Path, payload: str) -> str:
    """A kernel's text with ``payload`` run at import and its last-line body hash recomputed, as an attacker would."""
    text = genuine.read_text()
    body = text.rpartition("# symbp-body-sha256: ")[0].replace("import numpy\n", f"import numpy\n{payload}\n", 1)
    return body + "# symbp-body-sha256: " + hashlib.sha256(body.encode()).hexdigest() + "\n"
