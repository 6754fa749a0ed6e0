"""Bounding SymPy work in time.

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
