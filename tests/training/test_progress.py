"""Progress of a run: a bar on a terminal, about ten plain lines otherwise, nothing when silent."""

from __future__ import annotations

import io

from symbp.training import HistoryRow
from symbp.training.progress import LOG_LINES, Progress, Silent


def test_progress_bar_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress(50, stream=stream) as progress:
        assert progress.bar is not None
        for step in range(51):
            progress(HistoryRow(step, 1.0 / (step + 1), 0.5, 0.1))
    text = stream.getvalue()
    assert "50/50" in text and "loss" in text and "step" in text




def test_plain_lines_about_ten_times_a_run_and_at_the_end() -> None:
    stream = io.StringIO()
    with Progress(95, stream=stream, bar=False) as progress:
        for step in range(96):
            progress(HistoryRow(step, 2.0, 0.5, 0.1))
    lines = stream.getvalue().splitlines()
    assert LOG_LINES <= len(lines) <= LOG_LINES + 2 and lines[0].startswith("step  0/95") and lines[-1].startswith("step 95/95")


def test_silent_says_nothing() -> None:
    with Silent() as silent:
        silent(HistoryRow(0, 1.0, 1.0, 0.1))
