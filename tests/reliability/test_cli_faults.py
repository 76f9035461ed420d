"""CLI faults: one clear line, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cae.cli.app import run


def test_cube_build_refuses_an_existing_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cube.zarr"
    out.mkdir()
    (out / "keep").write_text("old")
    (tmp_path / "raw").mkdir()
    code = run(["cube", "build", str(tmp_path / "raw"), "--modality", "s2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "exists; pass --overwrite" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep"] and (out / "keep").read_text() == "old"


BAD_OPTIONS = {
    "--max-steps 0": (["train", "-m", "s2", "--max-steps", "0"], "untrained"),
    "--max-steps -5": (["train", "-m", "s2", "--max-steps", "-5"], "-1 for no limit"),
    "--epochs 0": (["train", "-m", "s2", "--epochs", "0"], "--epochs"),
    "--batch-size 0": (["train", "-m", "s2", "--batch-size", "0"], "--batch-size"),
    "--learning-rate -1": (["train", "-m", "s2", "--learning-rate", "-1"], "not a learning rate"),
    "--preset nonexistent": (["train", "-m", "s2", "--preset", "nonexistent"], "the presets are paper"),
    "--dims 0": (["train", "--fusion", "--dims", "0"], "--dims"),
    "--preset with --fusion": (["train", "--fusion", "--preset", "tiny"], "fusion trains over the encoders as they are"),
    "--fusion-preset nonexistent": (["train", "--fusion", "--fusion-preset", "nonexistent"], "the fusion presets are paper, no-dropout"),
    "--fusion-preset without --fusion": (["train", "-m", "s2", "--fusion-preset", "no-dropout"], "add --fusion"),
    "embed --chunk 0": (["embed", "cube.zarr", "--model", "runs/fusion", "--chunk", "0"], "--chunk"),
    "embed --batch-size 0": (["embed", "cube.zarr", "--model", "runs/fusion", "--batch-size", "0"], "--batch-size"),
    "maps --count -1": (["evaluate", "maps", "-e", "s.zarr", "--cube", "c.zarr", "--out", "maps", "--count", "-1"],
                        "--count"),
    "demo --max-steps without --train": (["demo", "--max-steps", "9"], "add --train"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_an_option_out_of_range_is_refused_before_any_work(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, fragment = BAD_OPTIONS[case]
    assert run(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert fragment in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_train_out_naming_a_file_is_refused(real_crop, tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    assert run(["train", "-m", "s2", "--cube", str(real_crop), "--out", str(taken), "--max-steps", "2"]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err and taken.read_text() == "mine"


def test_training_keeps_stderr_free_of_other_libraries_deprecation_notices(tmp_path):
    # A real process: inside pytest, warnings are caught by pytest rather than printed. A
    # corner of the real cube large enough to hold out validation and test blocks.
    from cae.cube.io import open_cube, write_cube
    from cae.data import demo_cube_path

    corner = write_cube(open_cube(demo_cube_path("s2")).isel(time=slice(0, 100), y=slice(0, 64), x=slice(0, 64)),
                        tmp_path / "corner.zarr")
    argv = ["train", "-m", "s2", "--cube", str(corner), "--out", str(tmp_path / "run"), "--preset", "tiny",
            "--max-steps", "2", "--batch-size", "4", "--device", "cpu"]
    done = subprocess.run([sys.executable, "-c", "from cae.cli.app import main; main()", *argv],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # Progress reaches a log too, as plain lines: every long step, not only the optimiser's.
    lines = done.stdout.splitlines()
    for expected in ("training: step 2/2", "preparing data: opening 1 cube(s), cutting the block split: done in",
                     "validation: started", "validation: done in", "scoring held-out samples: started (",
                     "scoring held-out samples: done in"):
        assert any(line.startswith(expected) for line in lines), (expected, done.stdout)
    assert lines.index(next(line for line in lines if line.startswith("validation: done in"))) < lines.index(
        next(line for line in lines if line.startswith("scoring held-out samples: done in")))


def test_a_cube_without_a_cloud_mask_is_one_warning_line(real_crop, tmp_path, capsys):
    from cae.cube.io import open_cube, write_cube

    unmasked = write_cube(open_cube(real_crop).drop_vars("SCL"), tmp_path / "unmasked.zarr")
    assert run(["cube", "check", str(unmasked)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("warning: the cube has no cloud mask (SCL)") and "Traceback" not in "".join(lines)
    assert sum(line.startswith("warning:") for line in lines) == 1
