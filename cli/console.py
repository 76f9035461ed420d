"""The Rich consoles every command prints to (results to stdout, errors to stderr), and the
progress display of long work: a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console

console = Console()
error_console = Console(stderr=True)


def progress():
    """A progress display with Rich's `add_task` / `update` / `advance`: a live bar on a
    terminal; where stdout is a file or a pipe (a batch job's log), `LoggedProgress`."""
    if not console.is_terminal:
        return LoggedProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0
    started: float = field(default_factory=time.monotonic)
    last_line: float = 0.0
    last_tenth: int = -1


@dataclass
class LoggedProgress:
    """Progress as plain lines, for logs: one at each tenth of the work, and at least every
    `every` seconds while it runs, with the time spent and an estimate of the time left."""

    every: float = 30.0
    tasks: list[_Task] = field(default_factory=list)

    def __enter__(self) -> LoggedProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **_) -> int:
        self.tasks.append(_Task(description, total))
        return len(self.tasks) - 1

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, completed=self.tasks[task].completed + advance)

    def update(self, task: int, *, description: str | None = None, completed: float | None = None,
               total: float | None = None, **_) -> None:
        state = self.tasks[task]
        state.description = description or state.description
        state.total = total if total is not None else state.total
        state.completed = completed if completed is not None else state.completed
        now = time.monotonic()
        tenth = int(10 * state.completed / state.total) if state.total else -1
        if tenth > state.last_tenth or now - state.last_line >= self.every:
            state.last_tenth, state.last_line = max(tenth, state.last_tenth), now
            console.print(self.line(state, now), highlight=False)

    @staticmethod
    def line(state: _Task, now: float) -> str:
        elapsed = now - state.started
        done = f"{state.completed:,.0f}" + (f"/{state.total:,.0f} ({state.completed / state.total:.0%})" if state.total else "")
        left = ""
        if state.total and 0 < state.completed < state.total:
            left = f", about {_duration(elapsed * (state.total - state.completed) / state.completed)} left"
        return f"{state.description}: {done}, {_duration(elapsed)} elapsed{left}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
