"""Helpers shared by the tests: the checkout's root, CI's strictness about real tools, runs compared bit for bit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

#: The root of the checkout (README.md, generated/, templates/).
ROOT = Path(__file__).resolve().parent.parent


def under_ci() -> bool:
    """True when running in CI (CI=true), where missing tools are failures, not skips."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pdflatex() -> str:
    """The path of pdflatex; a skip without it, a failure under CI (where .ci/run installs it)."""
    found = shutil.which("pdflatex")
    if found is None:
        if under_ci():
            pytest.fail("pdflatex is missing under CI: .ci/run must install texlive-latex-base")
        pytest.skip("pdflatex not installed (install texlive-latex-base)")
    return found


def stop_after(k: int):
    """A stop_requested that says yes after the k-th update, then no more."""
    asked = []

    def requested() -> bool:
        asked.append(None)
        return len(asked) == k

    return requested


def noisy_regression(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 3) and y = sin x₁ + ½ x₂x₃ + noise: data a small tanh network fits in a few dozen steps."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def damaged_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Files in ``folder`` that are not good checkpoints, made from the good one: {what: (path, a fragment of the refusal)}."""
    import json

    files = {"missing": (folder / "nothing.npz", "does not exist")}
    (folder / "text.npz").write_text("not a checkpoint\n")
    files["text"] = (folder / "text.npz", "is not a symbp checkpoint")
    np.savez(folder / "other.npz", X=np.zeros(3))
    files["other npz"] = (folder / "other.npz", "is not a symbp checkpoint")
    data = good.read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) // 2])
    files["truncated"] = (folder / "truncated.npz", "is not a symbp checkpoint")
    with np.load(good) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    np.savez(folder / "newer.npz", **{**arrays, "meta": np.array(json.dumps({**meta, "version": 99}))})
    files["newer"] = (folder / "newer.npz", "format version 99")
    np.savez(folder / "short.npz", **{**arrays, "history_loss": arrays["history_loss"][:-1]})
    files["short history"] = (folder / "short.npz", "is damaged")
    np.savez(folder / "noparams.npz", **{k: v for k, v in arrays.items() if not k.startswith("params/")})
    files["no params"] = (folder / "noparams.npz", "is damaged")
    return files


def assert_same_run(got, want) -> None:
    """Two RunResults are the same run: reason, steps, history and parameters bit for bit."""
    assert got.reason is want.reason and got.steps == want.steps
    assert got.history == want.history  # floats compared with ==: bit for bit (no NaN in these runs)
    assert list(got.params) == list(want.params)
    for name in want.params:
        assert got.params[name].dtype == want.params[name].dtype
        np.testing.assert_array_equal(got.params[name], want.params[name])

