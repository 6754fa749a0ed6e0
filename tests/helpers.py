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


# --- the data and cluster stages ----------------------------------------------------------


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 with its line ends as given (a test of CRLF files writes them itself)."""
    path.write_text(text, encoding="utf-8", newline="")
    return path


def assert_load_fails(path: Path, *fragments: str, target=None) -> str:
    """``symbp.data.load`` must raise a one-line DataError naming the file and containing each fragment.

    Returns the message, for tests that check more of it.
    """
    from symbp.data import load
    from symbp.errors import DataError

    with pytest.raises(DataError) as info:
        load(path, target=target)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def skip_without_dask() -> None:
    """Skip the calling test module when Dask is not installed; under CI, which installs the [dask] extra, fail instead."""
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        if under_ci():
            raise  # a missing Dask is a failure there, not a skip
        pytest.skip('Dask is not installed (pip install -e ".[dask]")', allow_module_level=True)


def assert_grad_close(got, want, rtol) -> None:
    """Two (R, ∇R) pairs agree to ``rtol``, each gradient relative to its largest entry."""
    loss, grad = got
    loss0, grad0 = want
    assert abs(loss - loss0) <= rtol * abs(loss0)
    assert grad.keys() == grad0.keys()
    for name in grad0:
        scale = np.max(np.abs(grad0[name]))
        assert np.max(np.abs(grad[name] - grad0[name])) <= rtol * scale, name
