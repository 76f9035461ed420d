"""One writer per output: a second `cae train` or `cae embed` into the same place is refused at once.

The lock is an flock (filelock's `FileLock`) on a hidden file beside the output, so it can
exist before the output does and is never part of it. The kernel drops an flock when its
process ends, however it ends: a killed run leaves at most the empty lock file, which the
next run simply locks again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from cae.errors import InputError


def lock_path(output: Path) -> Path:
    return output.with_name(f".{output.name}.lock")


@contextmanager
def sole_writer(output: Path, command: str) -> Iterator[None]:
    """Hold `output`'s lock for the block; refuse (InputError) if another process holds it."""
    path = lock_path(output)
    lock = FileLock(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(blocking=False)
    except Timeout:
        raise InputError(
            f"another {command} is writing {output} (it holds {path}); wait for it to end, or choose another --out"
        ) from None
    except OSError as error:
        raise InputError(f"cannot write {output}: {error.strerror} ({path}); choose another location") from None
    try:
        yield
    finally:
        lock.release()
