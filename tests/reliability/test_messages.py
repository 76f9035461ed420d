"""Messages that point to the right fix, grids that are not regular, and plain user mistakes on
valid data that used to end in an internal error (issue 18, classes 2-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from test_faults import fails_cleanly

from cae.cli.app import run
from cae.cube.io import open_cube, write_cube
from cae.cube.prepare import prepare_modality
from cae.data import demo_cube_path
from cae.errors import CubeError

BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11")


@pytest.fixture(scope="module")
def crop() -> xr.Dataset:
    return open_cube(demo_cube_path("s2")).isel(time=slice(0, 30), y=slice(0, 20), x=slice(0, 20)).load()


# --- layouts cae cannot read say what they hold ---------------------------------------------


def test_the_stackstac_layout_is_named_with_the_way_to_split_it(crop, tmp_path, capsys):
    stacked = crop[list(BANDS)].to_array("band").rename("reflectance").to_dataset()
    path = write_cube(stacked, tmp_path / "stacked.zarr")
    fails_cleanly(["cube", "check", str(path)], capsys, "variables found: reflectance('band', 'time', 'y', 'x')",
                  "one variable per band", "to_dataset('band')")


@pytest.mark.parametrize("declared", [True, False], ids=["modality attribute", "none"])
def test_other_band_names_are_listed_with_the_closest_known_names(crop, tmp_path, capsys, declared):
    # Names no plugin declares (`red`, `nir`, `b02` are aliases now: tests/cube/test_aliases.py).
    renamed = crop.rename({"B02": "B02_10m", "B03": "B03_10m", "B04": "B04_10m", "B08": "B08_10m"}).drop_vars(["B8A", "B11", "SCL"])
    renamed.attrs = {"modality": "s2"} if declared else {}
    path = write_cube(renamed, tmp_path / "renamed.zarr")
    err = fails_cleanly(["cube", "check", str(path)], capsys, "B02_10m('time', 'y', 'x')", "closest band names: B02, B03")
    assert "set the cube attribute `modality`" not in err


def test_a_folder_that_is_not_a_zarr_store_and_a_csv_are_named(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    fails_cleanly(["cube", "check", str(tmp_path / "folder")], capsys, "is a folder but not a zarr store")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    fails_cleanly(["cube", "check", str(tmp_path / "table.csv")], capsys, "is not a cube", "cae cube build")


def test_a_truncated_netcdf_is_called_damaged(crop, tmp_path, capsys):
    path = tmp_path / "cube.nc"
    crop.to_netcdf(path)
    path.write_bytes(path.read_bytes()[:2000])
    fails_cleanly(["cube", "check", str(path)], capsys, "damaged or truncated")


def test_dates_stored_as_text_get_the_conversion(crop, registry):
    text = crop.assign_coords(time=[str(value)[:10] for value in crop["time"].values])
    with pytest.raises(CubeError, match=r"time holds text, not dates \(e.g. '2015-08-01'\); convert it"):
        prepare_modality(text, registry.spec("s2"))


# --- grids -----------------------------------------------------------------------------------


def test_a_south_up_cube_is_flipped_north_up(crop, registry, tmp_path):
    south_up = crop.isel(y=slice(None, None, -1))
    assert south_up["y"].values[0] < south_up["y"].values[-1]
    prepared = prepare_modality(south_up, registry.spec("s2"))
    reference = prepare_modality(crop, registry.spec("s2"))
    np.testing.assert_array_equal(prepared.values.values, reference.values.values)
    np.testing.assert_array_equal(prepared.values["y"].values, crop["y"].values)
    stored = write_cube(south_up, tmp_path / "south_up.zarr")
    assert open_cube(stored)["y"].values[0] > open_cube(stored)["y"].values[-1]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c.isel(x=np.random.default_rng(0).permutation(c.sizes["x"])), "x is not sorted"),
        (lambda c: c.assign_coords(x=c["x"].values + np.where(np.arange(c.sizes["x"]) > 9, 30.0, 0.0)),
         "x is not evenly spaced (steps from 10 to 40"),
        (lambda c: c.assign_coords(y=np.where(np.arange(c.sizes["y"]) == 3, np.nan, c["y"].values)), "1 y coordinates are NaN"),
        (lambda c: c.isel(x=slice(None, None, -1)), "x descends"),
    ],
    ids=["shuffled", "gap", "nan", "east-to-west"],
)
def test_an_irregular_grid_is_refused_with_the_fix(crop, registry, change, fragment):
    with pytest.raises(CubeError) as caught:
        prepare_modality(change(crop), registry.spec("s2"))
    assert fragment in str(caught.value)


# --- user mistakes on valid data -------------------------------------------------------------


def test_a_cropped_cube_written_by_plain_to_zarr_rewrites_with_write_cube(crop, tmp_path):
    plain = tmp_path / "plain.zarr"
    crop.drop_encoding().chunk({"time": 7, "y": 9, "x": 11}).to_zarr(plain, zarr_format=3, consolidated=False)
    path = write_cube(open_cube(plain).isel(time=slice(2, 20), x=slice(1, 19)), tmp_path / "cropped.zarr")
    xr.testing.assert_equal(open_cube(path)["B04"].load(), crop["B04"].isel(time=slice(2, 20), x=slice(1, 19)))


def test_a_batch_of_one_is_skipped_not_a_crash(registry):
    from cae.model.autoencoder import autoencoder_for
    from cae.model.presets import get_preset
    from cae.training.config import TrainConfig
    from cae.training.encoder import AutoencoderTask

    spec = registry.spec("s2")
    task = AutoencoderTask(autoencoder_for(spec, 6, get_preset("tiny")), spec, TrainConfig(preset="tiny"))
    task.train()
    one = {"s2": {"values": torch.rand(1, 11, 6, 15, 15), "target": torch.rand(1, 11, 6, 15, 15),
                  "mask": torch.ones(1, 11, 6, 15, 15, dtype=torch.bool), "day_offsets": torch.zeros(1, 11)}}
    assert task.training_step(one, 0) is None


def test_the_site_split_is_a_property_of_the_data_not_of_the_file_name(tmp_path):
    from cae.training.data import load_sources, split_into_blocks

    cube = open_cube(demo_cube_path("s2")).isel(time=slice(0, 60), y=slice(0, 64), x=slice(0, 64))
    splits = []
    for name in ("first.zarr", "renamed_copy.zarr"):
        _, sources = load_sources("s2", [write_cube(cube, tmp_path / name)], 0)
        splits.append({part: [(block.rows, block.cols) for block in blocks]
                       for part, blocks in split_into_blocks(sources, 32, 42).items()})
    assert splits[0] == splits[1]


def test_a_map_date_far_outside_the_store_is_refused_not_snapped():
    import pandas as pd

    from cae.errors import InputError
    from cae.evaluation.maps import choose_dates

    counts = pd.Series([5, 7, 9], index=pd.DatetimeIndex(["2018-05-01", "2018-05-06", "2018-05-11"]))
    assert choose_dates(counts, ["2018-05-07"], 4) == [pd.Timestamp("2018-05-06")]
    with pytest.raises(InputError, match="--date 2030-01-01 is 4253 days from the nearest store date"):
        choose_dates(counts, ["2030-01-01"], 4)


def test_embedding_a_cube_without_the_cloud_mask_the_encoder_had_says_so(real_crop, tiny_runs, tmp_path, capsys):
    unmasked = write_cube(open_cube(real_crop).drop_vars("SCL"), tmp_path / "unmasked.zarr")
    argv = ["embed", str(unmasked), "--model", str(tiny_runs / "fusion"), "--out", str(tmp_path / "store.zarr")]
    assert run(argv) == 2
    warning, error = capsys.readouterr().err.split("\nerror: ")  # the cube's own warning comes first
    assert warning.startswith("warning: the cube has no cloud mask")
    error = " ".join(error.split())
    assert "masked otherwise than the encoder's training data" in error and "cloud mask this cube lacks" in error
    assert "plugin version" not in error and "Traceback" not in error
