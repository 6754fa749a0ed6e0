"""Tests for symbp/cluster/connect.py: addresses, the local cluster, and what happens without Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from symbp import cluster
from symbp.errors import UserError
from tests.helpers import skip_without_dask

skip_without_dask()


def test_local_workers_ignore_ctrl_c(client):
    """Ctrl-C goes to the whole process group; the client decides when to stop, the workers go on."""
    pids = client.run(os.getpid)
    for pid in pids.values():
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert client.run(os.getpid) == pids
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3


@pytest.mark.parametrize(
    "address", ["localhost:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "kernel.py", ""]
)
def test_a_bad_address_is_a_one_line_user_error(address):
    with pytest.raises(UserError) as info:
        cluster.connect(address)
    message = str(info.value)
    assert "\n" not in message and "tcp://HOST:PORT" in message and repr(address) in message


def test_an_unreachable_scheduler_is_a_user_error():
    with pytest.raises(UserError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        cluster.connect("tcp://127.0.0.1:1", timeout=1)


def test_without_dask_symbp_imports_and_connect_says_how_to_install():
    code = (
        "import sys\n"
        "for name in ('dask', 'distributed'):\n"
        "    sys.modules[name] = None  # import fails as if not installed\n"
        "import symbp, symbp.cluster\n"
        "try:\n"
        "    symbp.cluster.connect(None)\n"
        "except symbp.UserError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert 'pip install -e ".[dask]"' in out and out.count("\n") == 1
