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


def assert_same_run(got, want) -> None:
    """Two RunResults are the same run: reason, steps, history and parameters bit for bit."""
    assert got.reason is want.reason and got.steps == want.steps
    assert got.history == want.history  # floats compared with ==: bit for bit (no NaN in these runs)
    assert list(got.params) == list(want.params)
    for name in want.params:
        assert got.params[name].dtype == want.params[name].dtype
        np.testing.assert_array_equal(got.params[name], want.params[name])
