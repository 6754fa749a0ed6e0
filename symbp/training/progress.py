"""Progress of a training run: a tqdm bar on a terminal, plain periodic lines otherwise, or nothing."""

from __future__ import annotations

import sys
from typing import TextIO

from symbp.training.state import HistoryRow

#: Plain-log mode writes about this many lines per run (plus the first and the last).
LOG_LINES = 10


class Progress:
    """A callback for the runner that reports each recorded history row.

    Args:
        total: the step limit of the run.
        stream: where to write (default stderr).
        bar: a tqdm bar when True, periodic lines when False; default: a bar exactly when ``stream`` is a terminal.
        first_step: the step a resumed run starts from.
    """

    def __init__(self, total: int, stream: TextIO | None = None, bar: bool | None = None, first_step: int = 0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.every = max(1, total // LOG_LINES)
        self.bar = None
        use_bar = self.stream.isatty() if bar is None else bar
        if use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=first_step, file=self.stream, unit="step", dynamic_ncols=True, leave=True)

    def __call__(self, row: HistoryRow) -> None:
        if self.bar is not None:
            self.bar.n = row.step
            self.bar.set_postfix_str(f"loss {row.loss:.4g}", refresh=False)
            self.bar.update(0)
        elif row.step % self.every == 0 or row.step == self.total:
            print(f"step {row.step:>{len(str(self.total))}}/{self.total}  loss {row.loss:.6g}  |grad| {row.grad_norm:.3g}  gamma {row.gamma:.3g}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Silent:
    """The progress reporter of a quiet run: says nothing."""

    def __call__(self, row: HistoryRow) -> None:
        pass

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
