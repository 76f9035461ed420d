"""Writing evaluation results so that a reader never finds them half-written.

A results folder is filled beside its destination and renamed into place when complete
(`cae.atomic`); the checks come first, before any work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cae.atomic import staged
from cae.errors import InputError
from cae.outputs import check_apart, check_writable


def check_output_folder(out: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse to replace an existing `out` unless asked, and any `out` that is, lies inside
    or contains one of the command's `inputs`, asked or not: checked before any work starts."""
    check_apart({"--out": out}, inputs)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose another --out or pass --overwrite to replace it")
    check_writable(out.parent)


@contextmanager
def staged_folder(out: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> Iterator[Path]:
    """A fresh folder to write into; it becomes `out` only if the block completes."""
    check_output_folder(out, overwrite, inputs)
    with staged(out, folder=True) as staging:
        yield staging


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3) -> str:
    """A score for a table: fixed digits, 'n/a' where undefined."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"
