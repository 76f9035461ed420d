"""Writing so that a reader never finds a half-written file or folder.

Everything cae writes (checkpoints, cubes, embedding stores, reports, figures) is made at a
hidden staging path beside its destination and renamed into place only once complete. An
existing destination (replaced only where the command allows it) is moved aside first and
removed last, so a kill at any moment leaves either the old output or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def staging_path(path: Path, suffix: str = "partial") -> Path:
    """A hidden, unique path beside `path` (same file system, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.{suffix}")


def remove(path: Path) -> None:
    """Remove a file or a folder, whichever `path` is."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def replace(staging: Path, path: Path) -> None:
    """Put the complete `staging` at `path`; a previous `path` is moved aside, then removed."""
    if path.exists():
        retired = staging_path(path, "replaced")
        os.replace(path, retired)
        os.replace(staging, path)
        remove(retired)
    else:
        os.replace(staging, path)


@contextmanager
def staged(path: Path, folder: bool = False) -> Iterator[Path]:
    """A staging path to write `path`'s content to (created empty when `folder`); it becomes
    `path` only if the block completes, and is removed if it does not."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(path)
    if folder:
        staging.mkdir()
    try:
        yield staging
        replace(staging, path)
    finally:
        remove(staging)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is either the old file or the complete new one."""
    with staged(path) as staging, open(staging, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def write_json(path: Path, document: dict[str, Any]) -> None:
    write_bytes(path, (json.dumps(document, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")
