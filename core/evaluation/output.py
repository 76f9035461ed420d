"""Writing evaluation results so that a reader never finds them half-written.

A results folder is filled beside its destination and renamed into place when complete;
single files are written atomically (`cae.checkpoint.atomic_write_bytes`). Figures are
drawn with matplotlib's non-interactive backend.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cae.checkpoint import check_writable
from cae.errors import InputError
from cae.outputs import check_apart


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
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    staging.chmod(0o755)  # mkdtemp makes it private; the results are not
    try:
        yield staging
        previous = out.with_name(f".{out.name}.replaced")
        if out.exists():
            os.replace(out, previous)
        os.replace(staging, out)
        if previous.exists():
            shutil.rmtree(previous)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3) -> str:
    """A score for a table: fixed digits, 'n/a' where undefined."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"
