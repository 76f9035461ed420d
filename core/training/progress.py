"""Progress of training's long steps besides the optimiser steps: preparing the data,
validating, scoring the held-out set.

Each shows the way the training steps do (`cae.training.engine.make_trainer`): a live bar on
a terminal, plain lines where stdout is a file or a pipe (a batch job's log), nothing when
the caller asked for no progress (`progress=False`: the library used from code).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: `report(done, total)`: how far a step has come.
Report = Callable[[int, int], None]


class StepProgress:
    """`with steps.step("scoring held-out samples", total) as report: work(report=report)`."""

    def __init__(self, enabled: bool, every: float = 30.0) -> None:
        self.enabled, self.every = enabled, every
        self.live = enabled and sys.stdout.isatty()

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Report]:
        if not self.enabled:
            yield lambda done, total: None
        elif self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), transient=True) as bar:
                task = bar.add_task(description, total=total)
                yield lambda done, total: bar.update(task, completed=done, total=total)
        else:
            yield from self._lines(description, total)

    def _lines(self, description: str, total: int | None) -> Iterator[Report]:
        started = last = time.monotonic()
        tenths = [0]
        print(f"{description}: started" + (f" ({total:,})" if total else ""), flush=True)

        def report(done: int, total: int) -> None:
            nonlocal last
            now, tenth = time.monotonic(), 10 * done // max(total, 1)
            if (tenth > tenths[0] and done < total) or now - last >= self.every:
                tenths[0], last = max(tenth, tenths[0]), now
                elapsed = now - started
                left = f", about {elapsed * (total - done) / done:.0f} s left" if 0 < done < total else ""
                print(f"{description}: {done:,}/{total:,}, {elapsed:.0f} s elapsed{left}", flush=True)

        yield report
        print(f"{description}: done in {time.monotonic() - started:.1f} s", flush=True)
