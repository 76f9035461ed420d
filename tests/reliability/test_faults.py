"""Bad input and faults, through the CLI: one clear line, exit code 2, no traceback, and
nothing written, overwritten or half-written. Each test is a row of docs/reliability.md.

Cubes are the real Romania crop (`real_crop`), altered where a test needs a fault.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cae.checkpoint import METADATA_FILE, WEIGHTS_FILE, sha256_of
from cae.cli.app import run
from cae.cube.io import open_cube, write_cube
from cae.cube.prepare import prepare_modality
from cae.evaluation.gpp.features import store_features
from cae.fusion.checkpoint import FUSION_METADATA, FUSION_WEIGHTS
from cae.training.run_folder import STATE_FILE

SHORT = ["--max-steps", "2", "--batch-size", "4", "--device", "cpu"]  # fusion: no --preset, it has no encoder
TINY = ["--preset", "tiny", *SHORT]


def fails_cleanly(argv: list[str], capsys, *fragments: str) -> str:
    """Run the CLI; assert it failed as bad input with every fragment in its one message."""
    code = run(argv)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) and its content hash."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def written(folder: Path) -> list[str]:
    """What is in `folder`, less the empty lock files that mark an output's writer (cae.locks)."""
    return sorted(path.name for path in folder.iterdir() if path.suffix != ".lock")


def altered_crop(real_crop: Path, folder: Path, change) -> Path:
    """A copy of the real crop with `change(cube) -> cube` applied (the fault under test)."""
    path = folder / "altered.zarr"
    write_cube(change(open_cube(real_crop).load()), path)
    return path


def copy_run(run_dir: Path, folder: Path, **metadata_changes) -> Path:
    """A copy of a trained encoder's folder, its encoder.json entries replaced."""
    copy = folder / run_dir.name
    shutil.copytree(run_dir, copy)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    (copy / METADATA_FILE).write_text(json.dumps({**metadata, **metadata_changes}))
    return copy


def fuse_with(encoder: Path, cube: Path, out: Path) -> list[str]:
    return ["train", "--fusion", "--cube", str(cube), "--encoder", f"s2={encoder}", "--out", str(out), *SHORT]


# --- cubes ---------------------------------------------------------------------------------


def test_all_cloud_cube_is_refused(real_crop, tmp_path, capsys):
    cube = altered_crop(real_crop, tmp_path, lambda c: c.assign(SCL=xr.full_like(c["SCL"], 9)))  # cloud, high
    fails_cleanly(["cube", "check", str(cube)], capsys, "no usable date: every date is cloudy or invalid", "needs 11")


def test_nan_and_inf_values_become_invalid_pixels_never_data(real_crop, tmp_path, registry):
    spec = registry.spec("s2")
    reference = prepare_modality(open_cube(real_crop), spec)
    kept = np.flatnonzero(np.isin(open_cube(real_crop)["time"].values, reference.times))[:3]
    spoilt = [(np.nan, slice(0, 3), slice(0, 3)), (np.inf, 5, 5), (-np.inf, 6, 6)]

    def spoil(cube):
        for date, (value, rows, cols) in zip(kept, spoilt):
            cube["B04"].values[date, rows, cols] = value
        return cube

    prepared = prepare_modality(open_cube(altered_crop(real_crop, tmp_path, spoil)), spec)
    assert list(prepared.times) == list(reference.times)
    expected_values, expected_valid = reference.values.values.copy(), reference.valid.values.copy()
    for index, (_, rows, cols) in enumerate(spoilt):
        expected_values[index, :, rows, cols] = np.nan  # one bad band makes the whole pixel invalid
        expected_valid[index, rows, cols] = False
    np.testing.assert_array_equal(prepared.values.values, expected_values)
    np.testing.assert_array_equal(prepared.valid.values, expected_valid)


def test_all_nan_cube_is_refused(real_crop, tmp_path, capsys):
    cube = altered_crop(real_crop, tmp_path, lambda c: c.assign(B03=xr.full_like(c["B03"], np.nan)))
    err = fails_cleanly(["cube", "check", str(cube)], capsys, "B03 holds no value but NaN or 0", "remove the band")
    assert "cloudy" not in err


def test_slightly_negative_reflectance_is_clipped_and_mostly_negative_refused(real_crop, tmp_path, capsys, registry):
    # Noise over dark pixels: one row of the crop (4 % of its pixels) pushed below 0.
    noisy = altered_crop(real_crop, tmp_path, lambda c: c.assign(B02=c["B02"].where(c["y"] != c["y"][0], c["B02"] - 0.05)))
    assert float(open_cube(noisy)["B02"].min()) < 0
    prepared = prepare_modality(open_cube(noisy), registry.spec("s2"))
    assert float(prepared.values.min()) == 0.0
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    bands = ["B02", "B03", "B04", "B08", "B8A", "B11"]
    wrong = altered_crop(real_crop, shifted, lambda c: c.assign({name: c[name] - 0.5 for name in bands}))
    fails_cleanly(["cube", "check", str(wrong)], capsys, "B02 is", "negative", "check the scale and offset")


def test_truncated_zarr_chunk_is_reported_and_nothing_is_written(real_crop, tiny_runs, tmp_path, capsys):
    cube = tmp_path / "truncated.zarr"
    shutil.copytree(real_crop, cube)
    chunk = next(path for path in (cube / "B04").rglob("*") if path.is_file() and path.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:100])
    damaged = "a chunk or the file is truncated or corrupt"
    fails_cleanly(["cube", "check", str(cube)], capsys, damaged)
    fails_cleanly(["train", "-m", "s2", "--cube", str(cube), "--out", str(tmp_path / "run"), *TINY], capsys, damaged)
    out = tmp_path / "embedding.zarr"
    fails_cleanly(["embed", str(cube), "--model", str(tiny_runs / "fusion"), "--out", str(out)], capsys, damaged)
    assert written(tmp_path) == ["truncated.zarr"]


# --- checkpoints ---------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize(
    ("damaged", "expected"),
    [
        (METADATA_FILE, "is not a valid model description (truncated or corrupt"),
        (WEIGHTS_FILE, "does not match the hash in its description"),
    ],
)
def test_truncated_encoder_checkpoint_is_refused(damaged, expected, real_crop, tiny_runs, tmp_path, capsys):
    copy = copy_run(tiny_runs / "s2", tmp_path)
    _truncate(copy / damaged)
    fails_cleanly(fuse_with(copy, real_crop, tmp_path / "fusion"), capsys, expected)
    assert not (tmp_path / "fusion").exists()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda run_dir: _truncate(run_dir / FUSION_METADATA), "is not a valid model description"),
        (lambda run_dir: _truncate(run_dir / FUSION_WEIGHTS), "does not match the hash"),
        (lambda run_dir: (run_dir / FUSION_WEIGHTS).unlink(), "fusion.safetensors is missing"),
    ],
    ids=["truncated-json", "truncated-weights", "missing-weights"],
)
def test_damaged_fusion_checkpoint_is_refused(damage, expected, real_crop, tiny_runs, tmp_path, capsys):
    copy = tmp_path / "fusion"
    shutil.copytree(tiny_runs / "fusion", copy)
    damage(copy)
    out = tmp_path / "embedding.zarr"
    fails_cleanly(["embed", str(real_crop), "--model", str(copy), "--out", str(out)], capsys, expected)
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


class _Planted:
    """Unpickling this creates `marker`: proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_offered_as_weights_is_never_unpickled(real_crop, tiny_runs, tmp_path, capsys):
    copy = copy_run(tiny_runs / "s2", tmp_path)
    marker = tmp_path / "code-ran"
    (copy / WEIGHTS_FILE).write_bytes(pickle.dumps({"stem.weight": _Planted(marker)}))
    metadata = json.loads((copy / METADATA_FILE).read_text())
    metadata["weights_sha256"] = sha256_of(copy / WEIGHTS_FILE)  # even with a matching hash
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    fails_cleanly(fuse_with(copy, real_crop, tmp_path / "fusion"), capsys, "cannot read", WEIGHTS_FILE)
    assert not marker.exists()


def test_a_pickle_planted_as_training_state_is_refused_without_running(tiny_runs, tmp_path, capsys):
    copy = copy_run(tiny_runs / "s2", tmp_path)
    marker = tmp_path / "code-ran"
    (copy / STATE_FILE).write_bytes(pickle.dumps({"state_dict": _Planted(marker)}))
    before = snapshot(copy)
    fails_cleanly(["train", "-m", "s2", "--out", str(copy), "--resume", *TINY], capsys, "cannot resume from", "damaged")
    assert not marker.exists()
    assert snapshot(copy) == before


def test_encoder_of_another_modality_is_refused(real_crop, tiny_runs, tmp_path, capsys):
    fails_cleanly(fuse_with(tiny_runs / "s1", real_crop, tmp_path / "fusion"), capsys, "holds an encoder of s1, not of s2")
    fails_cleanly(
        ["evaluate", "reconstruction", "--model", str(tiny_runs / "s1"), "--cube", str(real_crop), "--out", str(tmp_path / "r")],
        capsys, "holds s2, not s1",
    )
    assert written(tmp_path) == []


def test_bands_are_read_by_name_and_an_encoder_of_another_band_order_is_refused(real_crop, tiny_runs, tmp_path, capsys, registry):
    reordered = tmp_path / "reordered.nc"  # NetCDF keeps the order variables are written in
    cube = open_cube(real_crop).load()
    cube[list(reversed(list(cube.data_vars)))].to_netcdf(reordered)
    assert list(open_cube(reordered).data_vars) == list(reversed(list(cube.data_vars)))
    spec = registry.spec("s2")
    got, expected = prepare_modality(open_cube(reordered), spec), prepare_modality(open_cube(real_crop), spec)
    assert got.bands == expected.bands
    np.testing.assert_array_equal(got.values.values, expected.values.values)
    bands = json.loads((tiny_runs / "s2" / METADATA_FILE).read_text())["bands"]
    copy = copy_run(tiny_runs / "s2", tmp_path, bands=list(reversed(bands)))
    fails_cleanly(fuse_with(copy, real_crop, tmp_path / "fusion"), capsys, "(in this order), but the encoder was trained on")


def test_encoder_of_an_older_plugin_version_is_refused_when_its_input_or_model_differs(real_crop, tiny_runs, tmp_path, capsys):
    metadata = json.loads((tiny_runs / "s2" / METADATA_FILE).read_text())
    old_plugin = {**metadata["plugin"], "version": "0.0.1"}
    other_clip = {**metadata["preprocessing"], "clip": [0.0, 2.0]}
    older = tmp_path / "preprocessing"
    older.mkdir()
    copy = copy_run(tiny_runs / "s2", older, plugin=old_plugin, preprocessing=other_clip)
    fails_cleanly(fuse_with(copy, real_crop, tmp_path / "fusion"), capsys, "prepared by cae 0.0.1", "clip: [0.0, 2.0] -> [0.0, 1.0]")
    other_model = tmp_path / "model"
    other_model.mkdir()
    preset = {**metadata["preset"], "head_channels": metadata["preset"]["head_channels"] * 2}
    copy = copy_run(tiny_runs / "s2", other_model, plugin=old_plugin, preset=preset)
    fails_cleanly(fuse_with(copy, real_crop, tmp_path / "fusion"), capsys, "(made with cae 0.0.1) do not fit the model")
    assert not (tmp_path / "fusion").exists()


# --- outputs -------------------------------------------------------------------------------


def _existing_output_commands(runs: Path, crop: Path, tmp_path: Path) -> dict[str, tuple[list[str], Path, str]]:
    """Each writing command aimed at an output that exists: (argv, output, message)."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "reconstruction.json").write_text("{}")
    return {
        "train": (["train", "-m", "s2", "--out", str(runs / "s2"), *TINY], runs / "s2", "already holds a trained encoder"),
        "fusion": (["train", "--fusion", "--cube", str(crop), "--runs", str(runs), "--out", str(runs / "fusion"), *SHORT],
                   runs / "fusion", "already holds a fusion model"),
        "embed": (["embed", str(crop), "--model", str(runs / "fusion"), "--out", str(taken)], taken, "exists"),
        "reconstruction": (["evaluate", "reconstruction", "--model", str(runs / "s2"), "--out", str(taken)], taken,
                           "already holds reconstruction.json"),
        "gpp": (["evaluate", "gpp", "--out", str(taken), "--site", "DE-Hai"], taken, "exists"),
        "maps": (["evaluate", "maps", "-e", str(crop), "--cube", str(crop), "--out", str(taken)], taken, "exists"),
    }


@pytest.mark.parametrize("command", ["train", "fusion", "embed", "reconstruction", "gpp", "maps"])
def test_an_existing_output_is_never_overwritten(command, real_crop, tiny_runs, tmp_path, capsys):
    argv, output, message = _existing_output_commands(tiny_runs, real_crop, tmp_path)[command]
    before = snapshot(output)
    fails_cleanly(argv, capsys, message)
    assert snapshot(output) == before


@pytest.fixture
def read_only_location(tmp_path) -> Path:
    """A folder no file can be created in: made read-only, or /sys for root (whom modes do not stop)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        (Path("/sys") / ".cae-write-test").touch()
    except OSError:
        yield Path("/sys")
        return
    pytest.skip("no read-only location on this machine")


def test_a_read_only_output_location_fails_before_any_work(read_only_location, real_crop, tiny_runs, capsys):
    where = read_only_location / "cae-output"
    fails_cleanly(["train", "-m", "s2", "--out", str(where), *TINY], capsys, f"cannot write {where}")
    fails_cleanly(["embed", str(real_crop), "--model", str(tiny_runs / "fusion"), "--out", str(where)], capsys, "cannot write")
    fails_cleanly(["evaluate", "gpp", "--out", str(where), "--site", "DE-Hai"], capsys, "cannot write")
    assert not where.exists()


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_saving_a_checkpoint_leaves_no_half_written_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae.atomic.os.fsync", _disk_full)
    run_dir = tmp_path / "run"
    fails_cleanly(["train", "-m", "s2", "--out", str(run_dir), *TINY], capsys, "No space left on device", "the disk is full")
    left = {path.name for path in run_dir.rglob("*")} if run_dir.exists() else set()
    assert not left & {WEIGHTS_FILE, METADATA_FILE} and not [name for name in left if "partial" in name], left


def test_disk_full_while_embedding_publishes_nothing_and_the_rerun_completes(real_crop, tiny_runs, tmp_path, capsys, monkeypatch):
    from cae.embedding import store

    argv = ["embed", str(real_crop), "--model", str(tiny_runs / "fusion"), "--chunk", "8", "--chunk-dates", "12"]
    assert run([*argv, "--out", str(tmp_path / "reference.zarr")]) == 0
    write_chunk, written = store.write_chunk, []

    def fills_up(*args):
        if len(written) == 2:
            _disk_full()
        write_chunk(*args)
        written.append(args[1])

    monkeypatch.setattr(store, "write_chunk", fills_up)
    out = tmp_path / "embedding.zarr"
    fails_cleanly([*argv, "--out", str(out)], capsys, "the disk is full")
    assert not out.exists()
    assert len(store.finished_chunks(store.partial_path(out))) == 2
    monkeypatch.setattr(store, "write_chunk", write_chunk)
    assert run([*argv, "--out", str(out)]) == 0
    xr.testing.assert_identical(xr.open_zarr(out, consolidated=False).load().drop_attrs(),
                                xr.open_zarr(tmp_path / "reference.zarr", consolidated=False).load().drop_attrs())


def test_disk_full_while_writing_a_report_leaves_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae.evaluation.gpp.report.plot_scatter", _disk_full)
    out = tmp_path / "gpp"
    fails_cleanly(["evaluate", "gpp", "--out", str(out), "--site", "DE-Hai", "--site", "FR-Hes", "--head", "small",
                   "--steps", "1", "--device", "cpu"], capsys, "the disk is full")
    assert written(tmp_path) == []


# --- paths in metadata ---------------------------------------------------------------------


def test_paths_in_a_stores_metadata_are_not_followed_outside_its_folder(real_crop, tiny_runs, tmp_path):
    beside = tmp_path / "beside"
    beside.mkdir()
    shutil.copytree(real_crop, beside / "cube.zarr")
    store = beside / "embedding.zarr"
    assert run(["embed", str(beside / "cube.zarr"), "--model", str(tiny_runs / "fusion"), "--out", str(store)]) == 0
    centre = xr.open_zarr(store, consolidated=False, decode_coords="all")
    x, y = float(centre.x[12]), float(centre.y[12])
    from pyproj import Transformer

    longitude, latitude = Transformer.from_crs(centre.rio.crs, "EPSG:4326", always_xy=True).transform(x, y)
    assert "bands" in store_features(store, latitude, longitude, 25.0)  # its own cube, in its folder: read
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(store, elsewhere / "embedding.zarr")  # still records beside/cube.zarr: outside its folder
    assert "bands" not in store_features(elsewhere / "embedding.zarr", latitude, longitude, 25.0)
