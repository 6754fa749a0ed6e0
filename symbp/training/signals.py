"""SIGINT and SIGTERM as a stop request that the runner sees between two steps."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

__all__ = ["StopOnSignals"]


class StopOnSignals:
    """While active, SIGINT and SIGTERM ask for a stop instead of ending the process.

    The first signal is recorded (:attr:`received`) and :meth:`requested` then
    answers True, so a runner given ``stop_requested=stop.requested`` finishes
    its current step and hands back its state.  The signals' previous handlers
    are put back at once, so a second signal acts as usual (a second Ctrl-C
    aborts without waiting).  Outside the main thread, where Python cannot
    install handlers, it does nothing.

    Example:
        >>> with StopOnSignals() as stop:
        ...     stop.requested()
        False
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def requested(self) -> bool:
        """True once one of the signals has arrived."""
        return self.received is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            # None: the old handler was not set from Python; the default is the best we can do.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def __enter__(self) -> StopOnSignals:
        try:
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            self._restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()
