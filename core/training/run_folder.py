"""Run folders: what a new or resumed run may take, locked against a second writer.

After a kill the way on is always open: a folder with a saved state is continued with
--resume, one without starts afresh, and a finished run is never overwritten.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_only

from cae.errors import InputError
from cae.locks import sole_writer
from cae.outputs import check_writable

#: Lightning's own training state (model, optimiser, schedulers, loops): for --resume only.
STATE_FILE = "training_state.ckpt"


def check_run_dir(run_dir: Path, metadata_file: str, what: str, resume: bool) -> None:
    """What a run folder takes, so that after a kill the way on is always open.

    A folder with a saved state (written at the end of each epoch) is continued with
    --resume, and refused without it. One without a state (new, or a run killed in its first
    epoch) starts afresh, unless it holds a finished `what`: a new run never overwrites one.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} is a file, not a run folder; choose another --out")
    state = (run_dir / STATE_FILE).exists()
    if resume and not state:
        raise InputError(
            f"nothing to resume in {run_dir}: no training state saved ({STATE_FILE} is written at the end of "
            "each epoch); run again without --resume to start afresh"
        )
    if not resume and _finished(run_dir / metadata_file):
        raise InputError(f"{run_dir} already holds {what}; use --resume to continue or another --out")
    if not resume and state:
        raise InputError(
            f"{run_dir} holds an unfinished training run ({STATE_FILE}); continue it with --resume, or choose another --out"
        )
    check_writable(run_dir)


def _finished(metadata: Path) -> bool:
    """A run is finished once its JSON holds the held-out test scores, which are written last.

    A JSON that cannot be read counts as finished: what cannot be read is not overwritten.
    """
    try:
        return "test" in json.loads(metadata.read_text())
    except FileNotFoundError:
        return False
    except (ValueError, UnicodeDecodeError):
        return True


@contextmanager
def claimed_run_dir(run_dir: Path, metadata_file: str, what: str, resume: bool) -> Iterator[None]:
    """The run folder, checked (`check_run_dir`) and locked against a second run while this one trains.

    Files staged by a killed run (`.*.partial*`) are removed. Only the first process locks:
    the other DDP ranks, which it starts, share its folder.
    """
    first = rank_zero_only.rank == 0
    with sole_writer(run_dir, "cae train") if first else nullcontext():
        check_run_dir(run_dir, metadata_file, what, resume)
        if first:
            for staged in run_dir.glob(".*.partial*"):
                staged.unlink()
        yield


def check_resume_state(path: Path) -> None:
    """Refuse a training state that is damaged or holds more than tensors and plain data.

    Lightning's state is a pickle; it is read with `weights_only=True`, which builds no
    arbitrary object, so a pickle planted in a run folder cannot run code.
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise InputError(
            f"cannot resume from {path}: it is damaged or not a training state cae wrote "
            f"({str(error).splitlines()[0]}); remove it and train again without --resume"
        ) from None
