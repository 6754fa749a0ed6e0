"""Bounding work in time and memory.

SymPy has no time-out of its own; an expression such as a tower of powers can
keep ``simplify`` or ``solve`` busy for ever.  :func:`time_limit` uses a real
timer signal, which works in the main thread of the process (where the command
line and ordinary scripts run).  Elsewhere it cannot interrupt and does nothing.

Limits nest: an inner limit never extends an outer one, and code that catches
the expiry of its own limit (``err.limit is limit``) lets an outer expiry through.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
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


@contextmanager
def time_limit(seconds: float) -> Iterator[Limit]:
    """Raise :class:`TimeLimitExceeded` in the block if it runs longer than ``seconds``.

    Example:
        >>> with time_limit(5) as limit:
        ...     pass
    """
    limit = Limit(seconds)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield limit
        return
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    if remaining and remaining < seconds:
        # An outer limit expires first: leave it in charge.
        yield limit
        return
    previous = signal.getsignal(signal.SIGALRM)

    def _expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(limit)

    started = time.monotonic()
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            # Give the outer limit back what is left of it (at least a tick, so that it still fires).
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 1e-3))


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


def check_declared_size(nbytes: int, what: str) -> None:
    """Refuse a size a file declares (an array's shape, a network's sizes) before anything is allocated for it.

    Args:
        nbytes: the bytes it would take.
        what: the subject of the message: ``"d.npy: the array of shape (10**12, 3)"``.

    Raises:
        UserError: it is more than :data:`DECLARED_SHARE` of :func:`memory_available`.

    Example:
        >>> check_declared_size(8 * 10**15, "d.npy: the array")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        symbp.errors.UserError: d.npy: the array needs 7.11 PiB, more than this machine can give it ...
    """
    allowed = int(memory_available() * DECLARED_SHARE)
    if nbytes > allowed:
        raise UserError(
            f"{what} needs {format_bytes(nbytes)}, more than this machine can give it "
            f"({format_bytes(allowed)}: a quarter of the memory available); nothing was allocated"
        )
