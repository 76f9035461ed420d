"""One writer per output: a second `cae train` or `cae embed` into the same place is refused at once.

The lock is an flock (filelock's `FileLock`) on a hidden file beside the output, so it can
exist before the output does and is never part of it. The kernel drops an flock when its
process ends, however it ends: a killed run leaves at most the empty lock file, which the
next run simply locks again. A run that ends before its output exists (refused, or failed
before writing) removes the lock file and the folders it made for it: a refused command
leaves nothing behind. (Another run that locked the same file in the instant between the
release and the removal could then be joined by a third; both would be starting a new
output, and the run folder's own checks still refuse a finished one.)
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
    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
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
        if not output.exists():
            path.unlink(missing_ok=True)
            for folder in made:  # deepest first; one holding anything else stays
                try:
                    folder.rmdir()
                except OSError:
                    break
