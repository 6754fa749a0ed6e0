"""Red team: attacks that symbp refused before this suite existed, kept here so that they stay refused."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import CANARY_PAYLOAD, cli, slow_after


@pytest.mark.parametrize(
    "sigma",
    slow_after([
        "__import__('os').system('touch {canary}')",
        "x.__class__",
        "(lambda: open('{canary}', 'w'))()",
        "exec('open(\"{canary}\", \"w\")')",
        "x if open('{canary}', 'w') else x",
        "x**(9**9**9)",
        "x # comment",
    ]),
)
def test_hostile_sigma_strings_are_refused_and_run_nothing(tmp_path, canary, sigma):
    done = cli("derive", f"--sigma={sigma.replace('{canary}', str(canary))}", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and not canary.exists(), done.stderr


def test_a_pickled_array_is_never_unpickled(workdir, canary):
    class Payload:
        def __reduce__(self):
            return (eval, (CANARY_PAYLOAD.format(path=str(canary)),))

    np.save(workdir / "evil.npy", np.array([Payload(), 1], dtype=object), allow_pickle=True)
    done = cli("train", "kernel.py", "--data", "evil.npy", cwd=workdir)
    assert done.returncode == 2 and "Python objects" in done.stderr and not canary.exists(), done.stderr
    np.savez(workdir / "evil.npz", X=np.array([Payload()], dtype=object), y=np.zeros(1))
    done = cli("train", "kernel.py", "--data", "evil.npz", cwd=workdir)
    assert done.returncode == 2 and not canary.exists(), done.stderr


@pytest.mark.parametrize("address", slow_after(["http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "inproc://x", "tcp://a b:1"]))
def test_a_bad_dask_address_is_one_line(workdir, address):
    done = cli("train", "kernel.py", "--data", "data.npz", "--dask", address, cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "invalid Dask scheduler address" in done.stderr, done.stderr
