"""`--mask-variable` on every command that reads cubes: train (encoder and fusion), embed,
evaluate probe; evaluate reconstruction reads the cubes with the mask its encoder recorded.

The cube is a crop of the real Romania cube whose cloud mask is a variable `clouds` (1 where
SCL marks no data, shadow, cloud or cirrus) instead of SCL, as a user's own mask would be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cae.cli.app import run
from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.fusion.training import train_fusion
from cae.modalities.sentinel2.preprocessing import INVALID_SCENE_CLASSES
from cae.training.encoder import train_encoder

#: The module trains an encoder and fusion (about 30 s on two idle cores).
pytestmark = pytest.mark.slow

STEPS = ["--preset", "tiny", "--max-steps", "1", "--batch-size", "4", "--device", "cpu"]


def with_renamed_mask(cube: xr.Dataset) -> xr.Dataset:
    clouds = cube["SCL"].isin(INVALID_SCENE_CLASSES).astype("uint8")
    return cube.drop_vars("SCL").assign(clouds=clouds)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> Path:
    """32 x 32 pixels of the Romania cube (all dates) with its mask renamed: what the encoder and fusion train on."""
    path = tmp_path_factory.mktemp("renamed") / "romania_clouds.zarr"
    return write_cube(with_renamed_mask(open_cube(demo_cube_path("s2")).isel(y=slice(0, 32), x=slice(0, 32))), path)


@pytest.fixture(scope="module")
def renamed_crop(renamed) -> Path:
    """40 dates x 24 x 24 pixels of it: what is embedded and probed (fast)."""
    return write_cube(open_cube(renamed).isel(time=slice(0, 40), y=slice(0, 24), x=slice(0, 24)),
                      renamed.with_name("romania_clouds_crop.zarr"))


@pytest.fixture(scope="module")
def runs(renamed, tmp_path_factory) -> Path:
    """Encoder and fusion trained with mask_variable='clouds' (library calls; the command line's
    threading of the option is what the refusal test below checks)."""
    root = tmp_path_factory.mktemp("runs")
    sparse = {"validation_spacing": 16, "test_spacing": 16}  # fewer held-out windows to score: a fast test
    train_encoder("s2", [renamed], root / "s2", demo_training_config("s2", max_steps=3, **sparse), progress=False,
                  mask_variable="clouds")
    train_fusion([renamed], root / "fusion", demo_training_config("s2", max_steps=2, **sparse), encoders={"s2": root / "s2"},
                 progress=False, mask_variable="clouds")
    return root


def test_training_reads_the_renamed_mask_as_scl_would_be_read(runs):
    encoder = json.loads((runs / "s2" / "encoder.json").read_text())
    assert encoder["preprocessing"]["mask_variable"] == "clouds"
    assert "cloud_mask" not in encoder["preprocessing"]  # not warned about as a cube without a mask
    # The same dates are dropped as with SCL itself: the renamed mask is the same mask.
    scl_cube = open_cube(demo_cube_path("s2")).isel(y=slice(0, 32), x=slice(0, 32))
    from cae.cube.prepare import prepare_modality
    from cae.plugins.manager import installed_modalities

    with_scl = prepare_modality(scl_cube, installed_modalities().spec("s2"))
    assert encoder["preprocessing"]["dates_dropped"] == with_scl.parameters["dates_dropped"]
    fusion = json.loads((runs / "fusion" / "fusion.json").read_text())
    assert "clouds" in json.dumps(fusion)


def test_embed_uses_the_renamed_mask_and_refuses_the_cube_without_it(renamed_crop, runs, tmp_path, capsys):
    store = tmp_path / "embedding.zarr"
    assert run(["embed", str(renamed_crop), "--model", str(runs / "fusion"), "--mask-variable", "clouds", "--device", "cpu",
                "--out", str(store)]) == 0
    embedding = xr.open_zarr(store, consolidated=False)["embedding"].isel(feature=0).load()
    clouds = open_cube(renamed_crop)["clouds"].sel(time=embedding["time"]).values
    embedded = np.isfinite(embedding.values)
    assert embedded.any() and not (embedded & (clouds != 0)).any()  # no cloudy pixel-date is embedded
    capsys.readouterr()
    code = run(["embed", str(renamed_crop), "--model", str(runs / "fusion"), "--device", "cpu", "--out", str(tmp_path / "x.zarr")])
    assert code == 2 and "masked otherwise than the encoder's training data" in capsys.readouterr().err
    # evaluate probe reads the cube (its baselines) with the mask variable it is given
    code = run(["evaluate", "probe", "--embeddings", str(store), "--cube", str(renamed_crop), "--mask-variable", "cloudz",
                "--out", str(tmp_path / "probe")])
    assert code == 2 and "mask variable 'cloudz' is not in the cube" in capsys.readouterr().err


def test_evaluate_reconstruction_reads_the_training_cubes_with_the_recorded_mask(runs):
    """Its held-out sites are rebuilt from the training cubes, prepared as training prepared them:
    without the recorded mask variable their fingerprint would differ and the command refuse."""
    from cae.checkpoint import read_metadata
    from cae.evaluation.reconstruction import recorded_mask_variable, training_split
    from cae.model.presets import AutoencoderPreset

    metadata = read_metadata(runs / "s2")
    assert recorded_mask_variable(metadata) == "clouds"
    sources, split = training_split(metadata, AutoencoderPreset.from_dict(metadata["preset"]).halo)
    assert split["test"] and all(source.valid.any() for source in sources.values())


def test_every_command_refuses_a_mask_variable_the_cube_lacks_by_name(renamed_crop, runs, tmp_path, capsys):
    renamed = renamed_crop
    commands = {
        "cube check": ["cube", "check", str(renamed)],
        "train": ["train", "--modality", "s2", "--cube", str(renamed), *STEPS, "--out", str(tmp_path / "run")],
        "train --fusion": ["train", "--fusion", "--cube", str(renamed), "--encoder", f"s2={runs / 's2'}",
                           "--max-steps", "2", "--out", str(tmp_path / "fusion")],
        "embed": ["embed", str(renamed), "--model", str(runs / "fusion"), "--device", "cpu", "--out", str(tmp_path / "e.zarr")],
    }
    for name, argv in commands.items():
        capsys.readouterr()
        assert run([*argv, "--mask-variable", "cloudz"]) == 2, name
        error = capsys.readouterr().err
        assert "mask variable 'cloudz' is not in the cube; variables: " in error and "clouds" in error, name
    assert not any(tmp_path.iterdir())  # nothing written by any refused command
