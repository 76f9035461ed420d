"""Interrupted work: `cae train` and `cae embed` killed at random moments leave output that
opens, and their reruns finish to exactly what an uninterrupted run writes; a second run
writing into the same place is refused and the first is left to finish undisturbed.

Each command runs in a process of its own, killed with SIGKILL, which no handler sees: what
survives is what was on disk. The processes are forked by a multiprocessing fork server that
has imported torch, Lightning and cae once (a fresh interpreter spends seconds on that), and
run the CLI exactly as `cae` does (`cae.cli.app.run`). Kill moments come from a seeded
generator, spread over the length of an uninterrupted run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import cae.embedding.run  # noqa: F401  (imported now, so an in-process second run reaches its lock at once)
import cae.fusion.training  # noqa: F401
from cae.checkpoint import CURVE_FILE, METADATA_FILE, WEIGHTS_FILE, load_encoder
from cae.cli.app import run
from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path
from cae.embedding import store
from cae.errors import InputError
from cae.training.run_folder import STATE_FILE, check_run_dir

#: Kills per command: each is followed by a check of what is on disk and a rerun.
KILLS = 3
TRAIN = ["train", "-m", "s2", "--preset", "tiny", "--epochs", "3", "--batch-size", "4", "--device", "cpu"]
#: Chunks of 6 dates x 8 x 8 pixels: 36 of them over the 24 x 24 x 24 crop.
CHUNK_DATES, CHUNK = 6, 8
EMBED = ["--chunk", str(CHUNK), "--chunk-dates", str(CHUNK_DATES), "--batch-size", "256", "--device", "cpu"]


def _cli(argv: list[str], log: str) -> None:
    """The whole life of a process: `cae ARGV`, its output appended to `log`, its exit code."""
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    sys.exit(run(argv))


@pytest.fixture(scope="module")
def start_cae(tmp_path_factory):
    """`start_cae(argv)` -> (process running `cae ARGV`, its log file)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "lightning", "cae.cli.app", "cae.training.encoder", "cae.embedding.run", __name__])
    logs = tmp_path_factory.mktemp("logs")

    def start(argv: list[str]) -> tuple[multiprocessing.Process, Path]:
        log = logs / f"{len(list(logs.iterdir()))}.log"
        log.touch()
        process = context.Process(target=_cli, args=(argv, str(log)))
        process.start()
        return process, log

    warm, _ = start(["--version"])  # the server's start (the imports) is no part of any run's time
    warm.join()
    return start


def finished_or_killed(process: multiprocessing.Process, after: float) -> int | None:
    """Its exit code if the process ends within `after` seconds; else None, once SIGKILL ended it."""
    process.join(after)
    if process.exitcode is not None:
        return process.exitcode
    process.kill()
    process.join()
    return None


def kill_moments(seconds: float, seed: int = 9) -> list[float]:
    """When to kill each run, in seconds after its start: random over an uninterrupted run's
    `seconds`, earliest first (the first run starts from nothing, the later ones resume)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.05, 0.95) * seconds for _ in range(KILLS))


def wait_for(path: Path, process: multiprocessing.Process, log: Path) -> None:
    deadline = time.monotonic() + 300
    while not path.exists():
        assert process.is_alive(), f"ended before {path} appeared:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def completed(start_cae, argv: list[str]) -> float:
    """Run `cae ARGV` to its end (it must succeed); returns its wall time."""
    started = time.perf_counter()
    process, log = start_cae(argv)
    process.join()
    assert process.exitcode == 0, log.read_text()
    return time.perf_counter() - started


# --- cae train -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_cube(tmp_path_factory) -> Path:
    """All 140 dates x 48 x 48 pixels of the real Romania S2 cube: 4 blocks, 3 steps an epoch."""
    path = tmp_path_factory.mktemp("train-cube") / "romania_48.zarr"
    write_cube(open_cube(demo_cube_path("s2")).isel(y=slice(0, 48), x=slice(0, 48)), path)
    return path


def train_argv(cube: Path, out: Path) -> list[str]:
    """The command of every training run below; a rerun adds --resume once a state was saved."""
    return [*TRAIN, "--cube", str(cube), "--out", str(out), *(["--resume"] if (out / STATE_FILE).exists() else [])]


@pytest.fixture(scope="module")
def uninterrupted_training(start_cae, train_cube, tmp_path_factory) -> tuple[Path, float]:
    """The run folder of an uninterrupted run, and its wall time."""
    out = tmp_path_factory.mktemp("uninterrupted") / "s2"
    return out, completed(start_cae, train_argv(train_cube, out))


def equal(first, second) -> bool:
    """Exact equality of nested dicts, lists and tensors."""
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(equal(first[key], second[key]) for key in first)
    if isinstance(first, (list, tuple)):
        return len(first) == len(second) and all(map(equal, first, second))
    if isinstance(first, torch.Tensor):
        return torch.equal(first, second)
    return first == second


def assert_readable_run(run_dir: Path) -> None:
    """Everything a killed run left opens: the encoder (its hash checked), the state, the curve."""
    import matplotlib.image

    names = {path.name for path in run_dir.iterdir()} if run_dir.exists() else set()
    # Hidden files are staged writes the kill cut short; the next run removes them.
    assert {name for name in names if not name.startswith(".")} <= {METADATA_FILE, WEIGHTS_FILE, CURVE_FILE, STATE_FILE}
    if METADATA_FILE in names:
        load_encoder(run_dir)
    if STATE_FILE in names:
        torch.load(run_dir / STATE_FILE, map_location="cpu", weights_only=True)
    if CURVE_FILE in names:
        matplotlib.image.imread(run_dir / CURVE_FILE)


def test_killed_training_reruns_to_the_bytes_of_an_uninterrupted_run(start_cae, train_cube, uninterrupted_training, tmp_path):
    reference, seconds = uninterrupted_training
    out = tmp_path / "s2"
    kills, code = [], None
    for moment in kill_moments(seconds):
        argv = train_argv(train_cube, out)
        process, log = start_cae(argv)
        code = finished_or_killed(process, moment)
        if code is not None:
            break
        kills.append(f"{moment:.1f} s{' (resumed)' if '--resume' in argv else ''}: {sorted(p.name for p in out.glob('*'))}")
        assert_readable_run(out)
    assert code in (None, 0), log.read_text()
    assert kills, "every run ended before its kill"
    if code is None:
        completed(start_cae, train_argv(train_cube, out))
    for name in (WEIGHTS_FILE, METADATA_FILE, CURVE_FILE):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), (name, kills)
    resumed, uninterrupted = (torch.load(folder / STATE_FILE, weights_only=True) for folder in (out, reference))
    # Everything that shapes further training: weights, optimiser, schedulers (the plateau's
    # counters too), early stopping, history, random state. Lightning's own progress counters
    # are left out: they count its scheduler calls, and a resumed run takes one step itself.
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "callbacks", "epoch", "global_step"):
        assert equal(resumed[key], uninterrupted[key]), (key, kills)
    assert not list(out.glob(".*partial*")), "staged files of the killed runs remain"


def test_a_rerun_after_a_kill_continues_with_resume_or_starts_afresh(uninterrupted_training, tmp_path, capsys):
    """The rule that makes `cae train ... [--resume]` always a way on after a kill."""
    reference, _ = uninterrupted_training
    finished = tmp_path / "finished"
    shutil.copytree(reference, finished)
    unfinished = tmp_path / "unfinished"  # killed after an epoch: a state, no test scores yet
    shutil.copytree(reference, unfinished)
    metadata = json.loads((unfinished / METADATA_FILE).read_text())
    del metadata["test"]
    (unfinished / METADATA_FILE).write_text(json.dumps(metadata))
    first_epoch = tmp_path / "first-epoch"  # killed in its first epoch, after the validation wrote the encoder
    shutil.copytree(unfinished, first_epoch)
    (first_epoch / STATE_FILE).unlink()

    def refused(folder: Path, *extra: str) -> str:
        assert run([*TRAIN, "--out", str(folder), *extra]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith("error:") and "Traceback" not in err
        return err

    assert "already holds a trained encoder; use --resume" in refused(finished)
    assert "holds an unfinished training run" in refused(unfinished) and "continue it with --resume" in refused(unfinished)
    check_run_dir(unfinished, METADATA_FILE, "a trained encoder", resume=True)
    assert "nothing to resume" in refused(first_epoch, "--resume") and "without --resume" in refused(first_epoch, "--resume")
    check_run_dir(first_epoch, METADATA_FILE, "a trained encoder", resume=False)  # a plain rerun starts afresh
    with pytest.raises(InputError, match="nothing to resume"):
        check_run_dir(tmp_path / "new", METADATA_FILE, "a trained encoder", resume=True)


def test_a_resumed_run_puts_back_the_weights_its_state_describes(train_cube, uninterrupted_training, tmp_path):
    """Killed after a validation saved new best weights but before the epoch's state, a run
    leaves weights newer than its state (here: damaged, as a kill between the weights and
    their JSON leaves them). Unless the resumed run reproduces that epoch bit for bit (not
    on a GPU), those weights would stay, unmatched by the final JSON."""
    reference, _ = uninterrupted_training
    out = tmp_path / "s2"
    shutil.copytree(reference, out)
    state = torch.load(out / STATE_FILE, weights_only=True)
    state["callbacks"]["CheckpointWriter"]["best"]["val_center_mae"] = 0.0  # no later epoch beats it
    torch.save(state, out / STATE_FILE)
    (out / WEIGHTS_FILE).write_bytes(b"weights of a later epoch")
    assert run([*TRAIN, "--cube", str(train_cube), "--out", str(out), "--epochs", "4", "--resume"]) == 0
    resumed = load_encoder(out)  # the hash in the JSON matches the weights
    assert [record["epoch"] for record in resumed.metadata["metrics"]] == [0, 1, 2, 3]
    assert (out / WEIGHTS_FILE).read_bytes() == (reference / WEIGHTS_FILE).read_bytes()


def test_a_second_training_into_the_same_run_folder_is_refused_and_the_first_finishes(
    start_cae, train_cube, uninterrupted_training, tmp_path, capsys
):
    reference, _ = uninterrupted_training
    out = tmp_path / "s2"
    first, log = start_cae(train_argv(train_cube, out))
    wait_for(out, first, log)  # the run folder is made under the lock
    os.kill(first.pid, signal.SIGSTOP)  # the first holds its lock, whatever the machine's speed
    try:
        code = run(train_argv(train_cube, out))
        err = " ".join(capsys.readouterr().err.split())
        fusion = run(["train", "--fusion", "--cube", str(train_cube), "--encoder", f"s2={reference}", "--out", str(out)])
        fusion_err = " ".join(capsys.readouterr().err.split())
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 2 and fusion == 2
    for message in (err, fusion_err):
        assert message.startswith(f"error: another cae train is writing {out}") and "Traceback" not in message, message
    first.join()
    assert first.exitcode == 0, log.read_text()
    assert (out / WEIGHTS_FILE).read_bytes() == (reference / WEIGHTS_FILE).read_bytes()


# --- cae embed -----------------------------------------------------------------------------


def embed_argv(crop: Path, model: Path, out: Path) -> list[str]:
    return ["embed", str(crop), "--model", str(model), "--out", str(out), *EMBED]


@pytest.fixture(scope="module")
def uninterrupted_embedding(start_cae, real_crop, tiny_runs, tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("uninterrupted") / "embedding.zarr"
    return out, completed(start_cae, embed_argv(real_crop, tiny_runs / "fusion", out))


def assert_opens_with_finished_chunks_final(partial: Path, reference: xr.Dataset) -> int:
    """The partial store opens, and every chunk marked finished holds its final values."""
    opened = xr.open_zarr(partial, consolidated=False).load()
    done = store.finished_chunks(partial)
    for name in done:
        i, j, k = map(int, name.split("."))
        block = dict(time=slice(i * CHUNK_DATES, (i + 1) * CHUNK_DATES), y=slice(j * CHUNK, (j + 1) * CHUNK),
                     x=slice(k * CHUNK, (k + 1) * CHUNK))
        for variable in ("embedding", "contributors"):
            np.testing.assert_array_equal(opened[variable].isel(block), reference[variable].isel(block))
    return len(done)


@pytest.mark.filterwarnings("ignore:Object at .cae-progress is not recognized")  # a partial store's progress log
def test_killed_embedding_reruns_to_the_store_of_an_uninterrupted_run(start_cae, real_crop, tiny_runs, uninterrupted_embedding, tmp_path):
    reference_path, seconds = uninterrupted_embedding
    reference = xr.open_zarr(reference_path, consolidated=False).load()
    out = tmp_path / "embedding.zarr"
    argv = embed_argv(real_crop, tiny_runs / "fusion", out)
    kills, code = [], None
    for moment in kill_moments(seconds):
        process, log = start_cae(argv)
        code = finished_or_killed(process, moment)
        if code is not None:
            break
        partial = store.partial_path(out)
        done = assert_opens_with_finished_chunks_final(partial, reference) if partial.exists() else 0
        kills.append(f"{moment:.1f} s: {done} chunks done")
        assert not out.exists() or not partial.exists()  # published whole, or not at all
    assert code in (None, 0), log.read_text()
    assert kills, "every run ended before its kill"
    if not out.exists():
        completed(start_cae, argv)
        assert not (out / store.PROGRESS_DIR).exists()  # (a kill just after publishing may leave it)
    assert not store.partial_path(out).exists()
    xr.testing.assert_identical(xr.open_zarr(out, consolidated=False).load(), reference)


def test_a_second_embed_into_the_same_store_is_refused_and_the_first_finishes(
    start_cae, real_crop, tiny_runs, uninterrupted_embedding, tmp_path, capsys
):
    reference, _ = uninterrupted_embedding
    out = tmp_path / "embedding.zarr"
    argv = embed_argv(real_crop, tiny_runs / "fusion", out)
    first, log = start_cae(argv)
    wait_for(store.partial_path(out), first, log)  # made under the lock
    os.kill(first.pid, signal.SIGSTOP)
    try:
        code = run(argv)
        overwrite = run([*argv, "--overwrite"])
        err = " ".join(capsys.readouterr().err.split())
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 2 and overwrite == 2
    assert err.startswith(f"error: another cae embed is writing {out}") and "Traceback" not in err, err
    first.join()
    assert first.exitcode == 0, log.read_text()
    xr.testing.assert_identical(xr.open_zarr(out, consolidated=False).load(), xr.open_zarr(reference, consolidated=False).load())
