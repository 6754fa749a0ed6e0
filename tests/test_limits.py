"""Tests for symbp/limits.py: a whole command under one time limit, a hard stop, memory available, declared sizes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from symbp.errors import UserError
from symbp.limits import check_declared_size, command_limit, format_bytes, memory_available
from tests.helpers import ROOT, SLOW


def test_a_command_over_its_limit_is_one_user_error():
    started = time.monotonic()
    with pytest.raises(UserError, match="symbp derive did not finish within 0.3 s"):
        with command_limit(0.3, "symbp derive"):
            while True:
                pass
    assert time.monotonic() - started < 2


def test_a_limit_swallowed_by_a_library_is_raised_again():
    """A library that catches every exception (SymPy's evalf does, in places) swallows the first expiry, not the next."""
    from symbp.limits import REPEAT_EVERY, TimeLimitExceeded, time_limit

    swallowed = 0
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.2):
            while time.monotonic() - started < 5:  # without a second expiry: the block ends here, and the test fails
                try:
                    while time.monotonic() - started < 5:
                        pass
                except Exception:  # noqa: BLE001 - the library's broad except, as it is
                    swallowed += 1
                    if swallowed > 1:
                        raise
    assert swallowed == 2 and time.monotonic() - started < 0.2 + 3 * REPEAT_EVERY


def test_a_stage_that_words_the_expiry_itself_gets_the_commands_words():
    from symbp.errors import ExpressionError
    from symbp.limits import TimeLimitExceeded, time_limit

    with pytest.raises(UserError, match="did not finish within 0.2 s"):
        with command_limit(0.2, "symbp derive"):
            try:
                with time_limit(60):
                    while True:
                        pass
            except TimeLimitExceeded as err:
                raise ExpressionError("the derivation did not finish within 60 s") from err


STUCK_IN_C = textwrap.dedent(
    f"""
    import hashlib, sys
    sys.path.insert(0, {str(ROOT)!r})
    from symbp.limits import command_limit, supervised

    def work():
        with command_limit(0.5, "symbp derive"):
            hashlib.pbkdf2_hmac("sha256", b"x", b"y", 10**8)  # a minute in one call into C: no signal handler runs
        print("finished")
        return 0

    sys.exit(supervised(work, 0.5, "symbp derive did not finish within 0.5 s"))
    """
)


@SLOW
def test_a_command_stuck_in_c_is_ended_by_the_hard_stop():
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK_IN_C], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, ""), (done.returncode, done.stdout, done.stderr)
    assert done.stderr == "symbp: error: symbp derive did not finish within 0.5 s (stopped)\n"
    assert time.monotonic() - started < 10


def test_supervised_work_passes_its_status_and_output_on(capfd):
    from symbp.limits import supervised

    def work():
        print("from the child")
        return 3

    assert supervised(work, 5, "unused") == 3
    assert capfd.readouterr().out == "from the child\n"


def test_supervised_work_that_raises_shows_its_traceback_and_exit_status_1(capfd):
    """A bug in the forked command is reported as the command would report it unforked, never as a silent exit 1."""
    from symbp.limits import supervised

    def work():
        raise OverflowError("absolute value too large")

    assert supervised(work, 5, "unused") == 1
    err = capfd.readouterr().err
    assert "Traceback" in err and err.strip().endswith("OverflowError: absolute value too large"), err


def test_declared_sizes_beyond_memory_are_refused():
    assert memory_available() > 0
    check_declared_size(1000, "a small array")
    with pytest.raises(UserError, match=r"d.npy: the array needs 7.11 PiB, more than this machine can give it"):
        check_declared_size(8 * 10**15, "d.npy: the array")
    assert format_bytes(1536) == "1.5 KiB"
