"""Helpers shared by the tests: the checkout's root, CI's strictness about real tools, runs compared bit for bit,
derivations shared between tests, and the split between the quick loop and the slow tests."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

#: The root of the checkout (README.md, generated/, templates/).
ROOT = Path(__file__).resolve().parent.parent

#: Tests that take more than about a second: CI runs them, ``python -m pytest -m "not slow"`` leaves them out.
SLOW = pytest.mark.slow


def slow_after(cases, keep: int = 1, unpack: bool = False) -> list:
    """Parametrize cases with all but the first ``keep`` marked slow: the quick loop checks one case, CI all.

    ``unpack``: each case is a tuple of several parameters (parametrize with several names).
    """
    return [case if position < keep else pytest.param(*(case if unpack else (case,)), marks=SLOW) for position, case in enumerate(cases)]


@functools.lru_cache(maxsize=None)
def _derivation(spec):
    from symbp.symbolic.derivation import derive as derive_spec

    return derive_spec(spec=spec)


@functools.lru_cache(maxsize=1)
def _kernel_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="symbp-test-kernels-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.lru_cache(maxsize=None)
def _kernel(spec):
    from symbp.kernel.emit import emit
    from symbp.kernel.load import load_kernel

    return load_kernel(emit(_derivation(spec), _kernel_folder()))


def kernel(*args, spec=None, **kwargs):
    """The loaded kernel of a spec, emitted once per test run into a temporary folder; tests must not change it."""
    from symbp.spec.network import make_spec

    return _kernel(spec if spec is not None else make_spec(*args, **kwargs))


def derive(*args, spec=None, **kwargs):
    """:func:`symbp.derive`, shared between the tests of one run: a spec is derived once (a Derivation is immutable)."""
    from symbp.spec.network import make_spec

    return _derivation(spec if spec is not None else make_spec(*args, **kwargs))


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


def chromium() -> str:
    """The path of a headless-capable Chromium; a skip without it, a failure under CI (where .ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if under_ci():
            pytest.fail("chromium is missing under CI: .ci/run must install it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def overfull_boxes(log: str) -> list[float]:
    """How far (pt) each overfull \\hbox of a pdflatex log sticks out."""
    import re

    return [float(width) for width in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


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
        import cryptography  # noqa: F401  (the local cluster's TLS certificate)
        import dask  # noqa: F401
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


# --- the command line, in this process -----------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """What a ``symbp`` command printed and its exit status, like ``subprocess.CompletedProcess``."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path) -> CliResult:
    """Run ``symbp ARGS`` in this process, in folder ``cwd``: as the console script does, minus the start-up.

    An exception that is not a user mistake propagates (the test fails with its traceback), where
    the real command would print a traceback; tests that need a real process use ``subprocess``.
    """
    from symbp.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


# --- the red-team suite: a real process, timed and measured ---------------------------------


@dataclass(frozen=True)
class Measured:
    """A ``symbp`` process's exit status, output, wall time, CPU time (its own and its children's) and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0

    def assert_refused(self, fragment: str = "", seconds: float = 10.0, rss_mib: float = 600.0) -> None:
        """One line on stderr (containing ``fragment``), exit status 2, no traceback, within the time and memory given.

        The time bound is on CPU time, which other work on a shared machine hardly changes; the wall
        time only has to show that nothing hung (six times the bound, at least a minute).
        """
        lines = self.stderr.strip().splitlines()
        assert self.returncode == 2, (self.returncode, self.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("symbp") and "Traceback" not in self.stderr, self.stderr[-2000:]
        assert fragment in lines[0], (fragment, lines[0])
        assert self.cpu_seconds < seconds, f"took {self.cpu_seconds:.1f} s of CPU"
        assert self.seconds < max(6 * seconds, 60.0), f"took {self.seconds:.1f} s"
        assert self.peak_rss_mib < rss_mib, f"peak RSS {self.peak_rss_mib:.0f} MiB"


def run_symbp(*args: str, cwd: Path, address_space: int = 3 * 2**30, timeout: float = 120.0, env: dict | None = None,
              file_size: int | None = None) -> Measured:
    """Run ``python -m symbp.cli ARGS`` in a real process with its address space capped (RLIMIT_AS), and measure it.

    The peak RSS is the child's own (``os.wait4``), the time its wall time.  ``file_size`` caps the files it
    may write (RLIMIT_FSIZE): a write beyond it fails as on a full disk.
    """
    import resource
    import subprocess
    import sys
    import threading
    import time

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "symbp.cli", *args], cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   preexec_fn=cap, env={**os.environ, **(env or {})})
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Measured(process.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


CANARY_PAYLOAD = "open({path!r}, 'w').write('ran')"


def small_disk(parent: Path, free: int) -> Path:
    """A folder on a file system of its own with about ``free`` bytes left (a tmpfs; root only, else a skip)."""
    import subprocess

    folder = parent / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        reason = f"root cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        pytest.fail(reason) if under_ci() else pytest.skip(reason)
    atexit.register(subprocess.run, ["umount", "-l", str(folder)], capture_output=True)
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    left = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "r+b") as stream:
        stream.truncate(max(filler.stat().st_size - max(free - left, 0), 0))
    return folder


def read_only_folder(parent: Path) -> Path:
    """A folder nothing can be created in, even by root: a read-only tmpfs when root may mount one, else mode 0555."""
    import subprocess

    folder = parent / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        reason = f"root cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}"
        pytest.fail(reason) if under_ci() else pytest.skip(reason)
    atexit.register(subprocess.run, ["umount", str(folder)], capture_output=True)
    return folder
