"""No command writes to, inside or over one of its inputs, `--overwrite` or not (cae.outputs).

For every writing command and every input it reads, `--out` is aimed at the input itself, at
a path inside it, and at the folder that holds it: each time the command exits 2 before any
work, names the input, and the whole tree of inputs is byte-identical afterwards, with
nothing added (no lock file, no parent folder, no partial store).
"""

from __future__ import annotations

import hashlib
import shutil
from importlib.resources import files
from pathlib import Path

import pytest

from cae.data import demo_label_path
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.evaluation.gpp.flux import bundled_flux_dir

from test_faults import SHORT, TINY, fails_cleanly


def tree(folder: Path) -> dict[str, str]:
    """Every path under `folder` (hidden ones, empty folders too) and its content hash."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, real_crop, tiny_runs) -> Path:
    """Every kind of input, copied into one folder: a cube, runs, a store, a label, flux data, raw files."""
    root = tmp_path_factory.mktemp("apart") / "inputs"
    root.mkdir()
    shutil.copytree(real_crop, root / "cube.zarr")
    shutil.copytree(tiny_runs, root / "runs", ignore=shutil.ignore_patterns("*.ckpt"))
    embed([root / "cube.zarr"], root / "runs" / "fusion", root / "store.zarr", EmbedOptions(chunk=24))
    shutil.copy(demo_label_path(), root / "label.tif")
    shutil.copytree(bundled_flux_dir(), root / "flux")
    (root / "raw").mkdir()
    (root / "raw" / "SIG0_20200101__VH_D080.tif").write_bytes(b"not read: refused before")
    return root


def commands(root: Path) -> dict[str, tuple[list[str], list[Path]]]:
    """Each writing command (its arguments before --out) and the inputs it reads."""
    cube, runs, store = root / "cube.zarr", root / "runs", root / "store.zarr"
    return {
        "cube build": (["cube", "build", "--modality", "s1", str(root / "raw")], [root / "raw"]),
        "cube build --like": (["cube", "build", "--modality", "s1", str(root / "raw"), "--like", str(cube)],
                              [root / "raw", cube]),
        "train": (["train", "-m", "s2", "--cube", str(cube), *TINY], [cube]),
        "train --fusion": (["train", "--fusion", "--cube", str(cube), "--runs", str(runs), *SHORT],
                           [cube, runs / "s2", runs / "s1"]),
        "embed": (["embed", str(cube), "--model", str(runs / "fusion"), "--overwrite"], [cube, runs / "fusion", runs / "s2"]),
        "export": (["export", str(store), "--overwrite"], [store]),
        "evaluate reconstruction": (["evaluate", "reconstruction", "--model", str(runs / "s2"), "--cube", str(cube),
                                     "--overwrite"], [runs / "s2", cube]),
        "evaluate maps": (["evaluate", "maps", "-e", str(store), "--cube", str(cube), "--overwrite"], [store, cube]),
        "evaluate probe": (["evaluate", "probe", "-e", str(store), "--target", str(root / "label.tif"), "--cube",
                            str(cube), "--overwrite"], [store, root / "label.tif", cube]),
        "evaluate gpp": (["evaluate", "gpp", "--flux", str(root / "flux"), "--features", f"DE-Hai={store}",
                          "--site", "DE-Hai", "--overwrite"], [root / "flux", store]),
    }


@pytest.mark.parametrize("where", ["on", "inside", "over"])
@pytest.mark.parametrize("command", list(commands(Path("."))))
def test_no_command_writes_on_inside_or_over_an_input(command, where, inputs, capsys):
    argv, sources = commands(inputs)[command]
    before = tree(inputs.parent)
    for source in sources:
        out = {"on": source, "inside": source / "results", "over": source.parent}[where]
        fails_cleanly([*argv, "--out", str(out)], capsys, "the input", "never writes over or into what it reads")
        assert tree(inputs.parent) == before, f"{command} --out {out} changed its inputs"


def test_the_demo_never_writes_into_the_bundled_data(capsys):
    package = Path(str(files("cae.data")))
    before = tree(package)
    for out in (package / "demo", package / "demo" / "cae-demo"):
        fails_cleanly(["demo", "--out", str(out)], capsys, "the input", str(package))
    assert tree(package) == before


def test_an_unreachable_scheduler_leaves_nothing(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae.embedding.run.SCHEDULER_TIMEOUT", "1s")
    out = tmp_path / "new" / "store.zarr"
    argv = ["embed", str(inputs / "cube.zarr"), "--model", str(inputs / "runs" / "fusion"), "--out", str(out)]
    fails_cleanly([*argv, "--scheduler", "tcp://127.0.0.1:1"], capsys, "cannot reach the dask scheduler")
    assert list(tmp_path.iterdir()) == []  # no store, no partial store, no lock file, no parent folder


def test_a_refused_training_run_leaves_no_lock_file_or_folder(inputs, tmp_path, capsys):
    out = tmp_path / "deeper" / "run"
    fails_cleanly(["train", "-m", "s2", "--cube", str(inputs / "cube.zarr"), "--out", str(out), *TINY,
                   "--resume"], capsys, "nothing to resume")
    assert list(tmp_path.iterdir()) == []
