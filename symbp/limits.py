"""Bounding SymPy work in time.

SymPy has no time-out of its own; an expression such as a tower of powers can
keep ``simplify`` or ``solve`` busy for ever.  :func:`time_limit` uses a real
timer signal, which works in the main thread of the process (where the command
line and ordinary scripts run).  Elsewhere it cannot interrupt and does nothing.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(Exception):
    """Raised inside a :func:`time_limit` block when its time is up."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in the block if it runs longer than ``seconds``.

    Nested limits are honoured: the inner one never extends the outer one.

    Example:
        >>> with time_limit(5):
        ...     pass
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.getsignal(signal.SIGALRM)
    if remaining and remaining < seconds:
        # An outer limit expires first: leave it in charge.
        yield
        return

    def _expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(f"gave up after {seconds:g} s")

    started = time.monotonic()
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            # Give the outer limit back what is left of it (at least a tick, so it still fires).
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 1e-3))
