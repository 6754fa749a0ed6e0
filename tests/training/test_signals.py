"""Tests for symbp/training/signals.py: SIGINT and SIGTERM become a stop request, and a second one acts as usual."""

from __future__ import annotations

import os
import signal
import time

import pytest

from symbp.training.signals import StopOnSignals


def test_stop_on_signals_records_the_first_and_lets_the_second_through():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignals() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs at the next bytecode boundary
        assert stop.requested() and stop.received == signal.SIGTERM
        # The first signal put the old handlers back: a second Ctrl-C interrupts at once.
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_stop_on_signals_restores_handlers_when_unused():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) != before[1]
    assert not stop.requested()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
