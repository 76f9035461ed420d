"""Where a command may write: never on, inside or over one of its own inputs.

Every command that writes (`cube build`, `train`, `train --fusion`, `embed`, `evaluate *`,
`demo`) calls `check_apart` with all it reads (cubes, stores, run folders, labels, flux
data) before it does anything else, `--overwrite` or not: an output equal to an input
would replace it, one inside an input would change it (a run's files inside a zarr store),
one containing an input would be replaced with it. Paths are compared resolved, so a
symbolic link or `..` does not hide an input.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from cae.errors import InputError


def overlap(output: Path, source: Path) -> str | None:
    """How writing `output` would touch `source` ('is', 'lies inside', 'contains'), or None."""
    output, source = Path(output).resolve(), Path(source).resolve()
    if output == source:
        return "is"
    if output.is_relative_to(source):
        return "lies inside"
    if source.is_relative_to(output):
        return "contains"
    return None


def check_apart(outputs: Mapping[str, str | os.PathLike], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse (InputError, every clash named at once) any output that is, lies inside or contains
    an input. `outputs` maps each output's option (`--out`) to its path."""
    sources = [Path(path) for path in inputs if path is not None]
    problems = [
        f"{option} {output} {how} the input {source}"
        for option, output in outputs.items()
        for source in sources
        if (how := overlap(Path(output), source))
    ]
    if problems:
        raise InputError(
            "; ".join(problems) + ": a command never writes over or into what it reads. Choose an output apart from its inputs"
        )


def check_writable(path: Path) -> None:
    """Fail before any work when `path` cannot be written, rather than after hours of it.

    Nothing is created: a new file is tried in `path` (an existing folder) or in its nearest
    existing parent, and removed.
    """
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    while not folder.exists():
        folder = folder.parent
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".cae-write-test.")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror} in {folder}; choose another location") from None
    os.close(handle)
    os.unlink(probe)
