"""Red team, findings 1-3: nothing read from a file decides what code runs; only code this symbp emitted runs untrusted.

Each hostile file carries a payload that would create the canary file; every test checks that it does not exist.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from symbp.errors import KernelError
from symbp.kernel.load import load_kernel
from tests.helpers import CANARY_PAYLOAD, SLOW, cli, run_symbp, skip_without_dask, slow_after
from tests.redteam.conftest import hostile_kernel, write_checkpoint

# --- 1. a crafted checkpoint ---------------------------------------------------------------


@pytest.mark.parametrize("trust", slow_after([True, "no", 1]))
def test_1_a_checkpoint_naming_a_hostile_kernel_runs_nothing(workdir, canary, trust):
    evil = workdir / "evil.py"
    evil.write_text(CANARY_PAYLOAD.format(path=str(canary)) + "\n")
    checkpoint = write_checkpoint(workdir, kernel=str(evil), trust=trust)
    done = cli("train", "--resume", str(checkpoint), cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    fragment = "needs the kernel on the command line" if trust is True else "is damaged"
    assert fragment in done.stderr and not canary.exists()


def test_1_a_checkpoint_trusts_nothing_the_command_line_does_not(workdir, canary):
    """trust: true in the file, the hostile kernel (hash recomputed) given as KERNEL.py: still refused without --trust."""
    evil = workdir / "evil.py"
    evil.write_text(hostile_kernel(workdir / "kernel.py", CANARY_PAYLOAD.format(path=str(canary))))
    checkpoint = write_checkpoint(workdir, kernel=str(evil), trust=True)
    done = cli("train", "evil.py", "--resume", str(checkpoint), cwd=workdir)
    assert done.returncode == 2 and "is not what this symbp emits for the spec it records" in done.stderr, done.stderr
    assert not canary.exists()


def test_1_a_tampered_kernel_with_a_recomputed_hash_does_not_train(workdir, canary):
    (workdir / "kernel.py").write_text(hostile_kernel(workdir / "kernel.py", CANARY_PAYLOAD.format(path=str(canary))))
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "3", cwd=workdir)
    assert done.returncode == 2 and "is not what this symbp emits" in done.stderr and not canary.exists()
    assert not (workdir / "kernel.params.npz").exists()


@pytest.mark.parametrize(
    "spec_line",
    slow_after([
        "SPEC = __import__('os').system('touch {canary}')",
        "SPEC = {'hidden': (lambda: open('{canary}', 'w'))()}",
        "SPEC = {'sigma': '__import__(\"os\").system(\"touch {canary}\")', 'hidden': 2}",
        "SPEC = " + "[" * 200 + "]" * 200,
        "SPEC = {'hidden': 2, 'sigma': 'tanh', 'evil': 1}",
    ]),
)
def test_1_a_kernel_whose_recorded_spec_is_hostile_is_refused_without_running_it(workdir, canary, spec_line):
    kernel = workdir / "kernel.py"
    original = next(line for line in kernel.read_text().splitlines() if line.startswith("SPEC = "))
    body = kernel.read_text().rpartition("# symbp-body-sha256: ")[0].replace(original, spec_line.replace("{canary}", str(canary)), 1)
    kernel.write_text(body + "# symbp-body-sha256: " + hashlib.sha256(body.encode()).hexdigest() + "\n")
    with pytest.raises(KernelError):
        load_kernel(kernel)
    assert not canary.exists()


def test_1_a_kernel_whose_recorded_spec_takes_long_to_emit_is_refused_at_the_verification_limit(workdir, canary, monkeypatch):
    """A forged SPEC (six layers of eight nested sigmoids, body hash recomputed) kept train busy for more than 600 s."""
    from symbp.kernel import verify

    monkeypatch.setattr(verify, "VERIFY_SECONDS", 1.0)  # 60 s by default: what symbp emit may take
    kernel = workdir / "kernel.py"
    original = next(line for line in kernel.read_text().splitlines() if line.startswith("SPEC = "))
    sigmoids = "sigmoid(" * 8 + "x" + ")" * 8
    heavy = f"SPEC = {{'hidden': (3, 3, 3, 3, 3, 3), 'sigma': {sigmoids!r}, 'g': {sigmoids!r}, 'inputs': 3}}"
    kernel.write_text(kernel.read_text().replace(original, heavy, 1))
    kernel.write_text(hostile_kernel(kernel, CANARY_PAYLOAD.format(path=str(canary))))  # its body hash recomputed
    started = time.monotonic()
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "3", cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "could not be verified within 1 s" in done.stderr and time.monotonic() - started < 10
    assert not canary.exists() and not (workdir / "kernel.params.npz").exists()


def test_1_the_outputs_go_where_the_command_line_says_not_where_the_checkpoint_says(workdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    checkpoint = write_checkpoint(workdir, output=str(elsewhere / "pwned"))
    done = cli("train", "kernel.py", "--resume", str(checkpoint), cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (workdir / "run.params.npz").exists() and list(elsewhere.iterdir()) == []


# --- 2. the kernel hash is not the boundary; a .pyc never runs ---------------------------------


def test_2_a_crafted_pyc_beside_the_kernel_never_runs(workdir, canary):
    kernel = workdir / "kernel.py"
    evil = compile(CANARY_PAYLOAD.format(path=str(canary)) + "\nM = D = P = SPEC = PARAMETERS = None\n", str(kernel), "exec")
    pyc = importlib.util.cache_from_source(str(kernel))
    os.makedirs(os.path.dirname(pyc), exist_ok=True)
    info = kernel.stat()
    # The header the import system checks: magic, flags, the source's mtime and size. It matches.
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + int(info.st_mtime).to_bytes(4, "little") + (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    with open(pyc, "wb") as stream:
        stream.write(header + marshal.dumps(evil))
    loaded = load_kernel(kernel)
    assert loaded.M == 2 and not canary.exists()
    done = cli("train", "kernel.py", "--data", "data.npz", "--steps", "3", cwd=workdir)
    assert done.returncode == 0 and not canary.exists(), done.stderr


def test_2_an_entry_in_a_cache_others_can_write_is_not_believed(workdir, canary, tmp_path_factory, monkeypatch):
    from symbp.kernel import cache

    home = tmp_path_factory.mktemp("cache-home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    kernel = workdir / "kernel.py"
    kernel.write_text(hostile_kernel(kernel, CANARY_PAYLOAD.format(path=str(canary))))
    folder = cache.cache_folder(create=True)
    (folder / hashlib.sha256(kernel.read_bytes()).hexdigest()).write_text("planted\n")
    for each in (folder, folder.parent, folder.parent.parent):
        each.chmod(0o777)  # anyone could have planted that entry
    assert cache.cache_folder() is None
    with pytest.raises(KernelError, match="is not what this symbp emits"):
        load_kernel(kernel)
    assert not canary.exists()


# --- 3. the local Dask cluster is closed to other local clients ----------------------------------

ATTACKER = textwrap.dedent(
    """
    import sys
    from distributed import Client
    from distributed.security import Security

    port, canary = sys.argv[1], sys.argv[2]
    for address, security in ((f"tcp://127.0.0.1:{port}", None), (f"tls://127.0.0.1:{port}", Security.temporary())):
        try:
            client = Client(address, security=security, timeout=5)
            client.run(lambda: open(canary, "w").write("ran"))
            print("RAN", address)
        except Exception as err:
            print("refused", address, type(err).__name__)
    """
)


@SLOW
def test_3_another_local_client_cannot_run_code_on_the_local_cluster(canary):
    skip_without_dask()
    from symbp.cluster import connect

    with connect(None) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        done = subprocess.run([sys.executable, "-c", ATTACKER, address.rsplit(":", 1)[1], str(canary)], capture_output=True, text=True, timeout=120)
        assert done.stdout.count("refused") == 2 and "RAN" not in done.stdout, done.stdout + done.stderr
        assert client.submit(np.add, 1, 2).result() == 3  # the cluster itself works
    assert not canary.exists()


@SLOW
def test_1_the_crafted_checkpoint_refusal_as_a_process(workdir, canary):
    evil = workdir / "evil.py"
    evil.write_text(hostile_kernel(workdir / "kernel.py", CANARY_PAYLOAD.format(path=str(canary))))
    checkpoint = write_checkpoint(workdir, kernel=str(evil), trust=True)
    run_symbp("train", "evil.py", "--resume", str(checkpoint), cwd=workdir).assert_refused("is not what this symbp emits")
    assert not canary.exists()
