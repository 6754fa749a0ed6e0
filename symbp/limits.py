"""Bounding work in time and memory.

SymPy has no time-out of its own; an expression such as a tower of powers can
keep ``simplify`` or ``solve`` busy for ever.  :func:`time_limit` uses a real
timer signal, which works in the main thread of the process (where the command
line and ordinary scripts run).  Elsewhere it cannot interrupt and does nothing.

Limits nest: an inner limit never extends an outer one, and code that catches
the expiry of its own limit (``err.limit is limit``) lets an outer expiry through.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from symbp.errors import UserError


class Limit:
    """One time limit; :class:`TimeLimitExceeded` names the limit that expired."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class TimeLimitExceeded(Exception):
    """Raised inside a :func:`time_limit` block when its time is up."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(f"gave up after {limit.seconds:g} s")
        self.limit = limit


#: After a time limit expires, how often (seconds) it is raised again while the limited block still runs.
REPEAT_EVERY = 0.25


@contextmanager
def time_limit(seconds: float) -> Iterator[Limit]:
    """Raise :class:`TimeLimitExceeded` in the block if it runs longer than ``seconds``.

    Raised again every :data:`REPEAT_EVERY` seconds until the block is left: a library that catches
    every exception (SymPy's numerical evaluation does, in places) can swallow one, not all of them.

    Example:
        >>> with time_limit(5) as limit:
        ...     pass
    """
    limit = Limit(seconds)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield limit
        return
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    if remaining and remaining < seconds:
        # An outer limit expires first: leave it in charge.
        yield limit
        return
    previous = signal.getsignal(signal.SIGALRM)

    def _expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(limit)

    started = time.monotonic()
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_EVERY)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            # Give the outer limit back what is left of it (at least a tick, so that it still fires).
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 1e-3), interval)


# --- memory -----------------------------------------------------------------------------------

#: What a size declared by a file may take of the memory available: the rest is for the copies
#: that reading and training make of it (float64 conversion, inputs and targets, the kernel's arrays).
DECLARED_SHARE = 0.25


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """What RLIMIT_AS still allows this process to map, or None without such a limit."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            mapped = int(stream.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        mapped = 0
    return max(soft - mapped, 0)


def memory_available() -> int:
    """Bytes this process can still allocate: the free memory of the machine, and what RLIMIT_AS leaves.

    Example:
        >>> memory_available() > 0
        True
    """
    known = [value for value in (_meminfo_available(), _address_space_left()) if value is not None]
    return min(known) if known else 16 * 2**30


def format_bytes(count: int) -> str:
    """A byte count as people read it: ``81.9 TiB``.

    Example:
        >>> format_bytes(3 * 2**30)
        '3 GiB'
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_declared_size(nbytes: int, what: str, share: float = DECLARED_SHARE) -> None:
    """Refuse a size a file declares (an array's shape, a network's sizes) before anything is allocated for it.

    Args:
        nbytes: the bytes it would take.
        what: the subject of the message: ``"d.npy: the array of shape (10**12, 3)"``.
        share: the part of :func:`memory_available` it may take (an estimate of all a job needs: 1).

    Raises:
        UserError: it is more than ``share`` of :func:`memory_available`.

    Example:
        >>> check_declared_size(8 * 10**15, "d.npy: the array")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        symbp.errors.UserError: d.npy: the array needs 7.11 PiB, more than this machine can give it ...
    """
    available = memory_available()
    allowed = int(available * share)
    if nbytes > allowed:
        part = "" if share >= 1 else f" of the {format_bytes(available)} available"
        raise UserError(f"{what} needs {format_bytes(nbytes)}, more than this machine can give it ({format_bytes(allowed)}{part}); nothing was allocated")


# --- a whole command ------------------------------------------------------------------------

#: The time a command that derives (derive, emit, check) may take by default, in seconds.
COMMAND_SECONDS = 60.0
#: How long after its limit a command that has not stopped (stuck in a call into C, where the
#: timer signal cannot interrupt it) is ended by the hard stop.
HARD_STOP_GRACE = 5.0


def _cap_address_space(nbytes: int) -> int | None:
    """Lower this process's soft RLIMIT_AS to ``nbytes`` (never raise it); the previous soft limit, or None if unchanged."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = nbytes if hard == resource.RLIM_INFINITY else min(nbytes, hard)
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        return None
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    return soft


def limit_message(what: str, seconds: float) -> str:
    """The one line of a command that ran out of time."""
    return f"{what} did not finish within {seconds:g} s; use a simpler expression or a smaller network, or allow more with --time-limit"


@contextmanager
def command_limit(seconds: float, what: str, cap_memory: bool = False) -> Iterator[None]:
    """Run a whole command under one time limit (and, in a process of its own, a memory cap).

    Args:
        seconds: the limit; every stage of the command counts (parsing, deriving, printing, rendering).
        what: the command, for the message (``"symbp derive"``).
        cap_memory: cap the process's address space at half the memory available (at least 1 GiB,
            at most 8 GiB), so that a blow-up ends in MemoryError; for a process that is the command's.

    Raises:
        UserError: the limit expired; nothing of the command was written.

    Example:
        >>> with command_limit(5, "symbp derive"):
        ...     pass
    """
    previous_cap = _cap_address_space(min(max(memory_available() // 2, 2**30), 8 * 2**30)) if cap_memory else None
    started = time.monotonic()
    try:
        with time_limit(seconds):
            yield
    except TimeLimitExceeded as err:
        raise UserError(limit_message(what, seconds)) from err
    except UserError as err:
        if time.monotonic() - started < seconds:
            raise
        raise UserError(limit_message(what, seconds)) from err  # a stage that words the expiry itself, with its own limit's figure
    finally:
        if previous_cap is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (previous_cap, resource.getrlimit(resource.RLIMIT_AS)[1]))


def supervised(work: Callable[[], int], seconds: float, message: str) -> int:
    """Run ``work`` in a child process and end it if it runs :data:`HARD_STOP_GRACE` seconds past ``seconds``.

    The timer of :func:`command_limit` interrupts Python code, but not one long call into C, which
    holds the interpreter (no thread of the process can run then).  So the command line runs a
    deriving command in a forked child and waits for it: a child still running at the hard stop is
    killed, and this process prints ``message`` as one line and returns 2 (nothing was written).
    Ctrl-C reaches both; this process leaves it to the child.  Without ``fork`` (Windows) the work
    runs here, under its soft limit alone.

    Args:
        work: the command; returns its exit status (it prints its own output).
        seconds: the command's own time limit.
        message: the line for a command that had to be killed.

    Returns:
        The exit status: the child's, or 2 when it was killed at the hard stop.
    """
    if not hasattr(os, "fork"):
        return work()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    child = os.fork()
    if child == 0:  # the command
        status = 1
        try:
            status = work()
        except BaseException:  # a bug in symbp: its traceback, as the command would print it without the fork
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(status)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child answers Ctrl-C
    forward = signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(child, signal.SIGTERM))
    try:
        deadline = time.monotonic() + seconds + HARD_STOP_GRACE
        while True:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                print(f"symbp: error: {message} (stopped)", file=sys.stderr)
                return 2
            time.sleep(0.02)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, forward)
