"""The temporal cloud test, on real data: the California Earth Engine export (no cloud mask) and
the Romania cube, whose L2A scene classification (SCL) it is measured against."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import rioxarray
import xarray as xr

from cae.cli.app import run
from cae.cube.cloudmask import CLEAR, CLOUD, CLOUD_MASK, SHADOW, temporal_cloud_mask
from cae.cube.io import open_cube, write_cube
from cae.cube.prepare import prepare_modality
from cae_testing import SHARED_DATA, requires_shared_data

#: Dates of the export that are partly cloudy (clouds and their shadows over Fresno, seen in RGB).
CLOUDY_DATES = ("2020-03-17", "2020-03-27")
#: Dates that look clear in RGB (winter and spring, before the summer's wildfire smoke).
CLEAR_DATES = ("2020-01-22", "2020-02-01", "2020-02-06", "2020-02-11", "2020-02-16", "2020-02-26", "2020-03-02",
               "2020-04-01", "2020-04-16")


@pytest.fixture(scope="module")
def california() -> xr.Dataset:
    """The California export as a cube, read here with rioxarray (band order B02 B03 B04 B08, DN / 10000,
    nodata 0, the date from the file name: the export's README entry), as no reader of that layout is
    part of this test's subject."""
    files = sorted((SHARED_DATA / "s2" / "california_fresno_gee").glob("*.tif"))
    if not files:
        pytest.skip("the raw real data in ../shared/data is not present")
    dates = [pd.Timestamp(re.search(r"MSIL2A_(\d{8})T", path.name).group(1)) for path in files]
    images = xr.concat([rioxarray.open_rasterio(path) for path in files], dim="time").assign_coords(time=dates)
    reflectance = (images.where(images != 0) / 10000.0).astype("float32")
    cube = reflectance.assign_coords(band=["B02", "B03", "B04", "B08"]).to_dataset("band").sortby("time")
    cube.attrs = {"modality": "s2"}
    return cube.load()


@requires_shared_data
def test_the_temporal_test_flags_the_clouds_of_the_california_export_and_few_clear_pixels(california):
    mask = temporal_cloud_mask(california)
    assert mask.dtype == np.uint8 and set(np.unique(mask.values)) <= {CLEAR, CLOUD, SHADOW}
    for date in CLOUDY_DATES:
        day, flags = california.sel(time=date), mask.sel(time=date).values
        # Cloud cores: white, bright in every visible band (an independent criterion).
        white = ((day["B02"] > 0.2) & (day["B03"] > 0.2) & (day["B04"] > 0.2)).values
        assert white.mean() > 0.1
        assert (flags[white] == CLOUD).mean() > 0.9, date
        assert (flags != CLEAR).mean() > 0.4, date  # clouds and shadows cover about half the image
    for date in CLEAR_DATES:
        assert (mask.sel(time=date).values != CLEAR).mean() < 0.01, date


@requires_shared_data
def test_the_temporal_test_agrees_with_the_scene_classification_of_romania(romania_s2):
    """Measured: cloud precision 0.69, recall 0.86 against SCL 8, 9, 10; floors a little below."""
    mask = temporal_cloud_mask(romania_s2).values
    scene = romania_s2["SCL"].values
    known = scene != 0
    flagged, cloudy = (mask == CLOUD) & known, np.isin(scene, (8, 9, 10))
    precision = (flagged & cloudy).sum() / flagged.sum()
    recall = (flagged & cloudy).sum() / (cloudy & known).sum()
    assert precision > 0.6 and recall > 0.8, (precision, recall)
    anything, invalid = (mask != CLEAR) & known, np.isin(scene, (3, 8, 9, 10))
    assert (anything & invalid).sum() / anything.sum() > 0.55
    assert (anything & invalid).sum() / (invalid & known).sum() > 0.7


@requires_shared_data
def test_a_cube_without_scl_is_built_with_the_temporal_mask_one_warning_and_provenance(california, registry, tmp_path, capsys):
    crop = california.isel(y=slice(0, 128), x=slice(0, 128))  # the cloudiest quarter, to keep the test fast
    source = write_cube(crop, tmp_path / "california.zarr")
    out = tmp_path / "masked.zarr"
    assert run(["cube", "build", "--modality", "s2", str(source), "--out", str(out)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the cube has no cloud mask (SCL); clouds and shadows "
                                                   "are flagged by the temporal outlier test")
    cube = open_cube(out)
    assert cube[CLOUD_MASK].attrs["method"] == "temporal" and cube[CLOUD_MASK].attrs["flag_meanings"] == "clear cloud shadow"
    for band in ("B02", "B03", "B04", "B08"):  # the bands are untouched
        np.testing.assert_allclose(cube[band].values, crop[band].values, atol=1e-4)
    prepared = prepare_modality(cube, registry.spec("s2"))
    assert prepared.parameters["cloud_mask"] == "temporal"
    cloudy = prepared.valid.sel(time=CLOUDY_DATES[1]).values
    assert cloudy.mean() < 0.5  # the clouds are no longer counted as land
    # Built again (here onto its own grid): the mask is kept as it is, not made again, no warning.
    again = tmp_path / "again.zarr"
    capsys.readouterr()
    assert run(["cube", "build", "--modality", "s2", str(out), "--like", str(out), "--out", str(again)]) == 0
    assert "warning" not in capsys.readouterr().err
    rebuilt = open_cube(again)
    np.testing.assert_array_equal(rebuilt[CLOUD_MASK].values, cube[CLOUD_MASK].values)
    assert rebuilt.attrs["coregistration"]["resampling"][CLOUD_MASK] == "nearest"


@requires_shared_data
def test_cloud_mask_none_adds_no_mask_and_scl_on_a_cube_without_scl_is_refused(california, tmp_path, capsys):
    source = write_cube(california.isel(time=slice(0, 12), y=slice(0, 32), x=slice(0, 32)), tmp_path / "california.zarr")
    plain = tmp_path / "plain.zarr"
    assert run(["cube", "build", "--modality", "s2", str(source), "--cloud-mask", "none", "--out", str(plain)]) == 0
    assert CLOUD_MASK not in open_cube(plain).data_vars
    capsys.readouterr()
    code = run(["cube", "build", "--modality", "s2", str(source), "--cloud-mask", "scl", "--out", str(tmp_path / "x.zarr")])
    assert code == 2
    assert "--cloud-mask scl: the cube has no SCL variable (variables: B02, B03, B04, B08)" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_the_temporal_mask_on_a_radar_cube_is_refused(poland_s1, tmp_path, capsys):
    source = write_cube(poland_s1.isel(time=slice(0, 12)), tmp_path / "s1.zarr")
    code = run(["cube", "build", "--modality", "s1", str(source), "--cloud-mask", "temporal", "--out", str(tmp_path / "x.zarr")])
    assert code == 2 and "--cloud-mask temporal needs the bands B02, B03, B04, B08; the cube holds VH" in capsys.readouterr().err
