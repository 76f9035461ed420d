"""GeoTIFF folders: the real Earth Engine export, S1 of another provider, and what is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor the tests write with)

from cae.cli.app import run
from cae.cube.grid import crs_label, crs_of
from cae.cube.io import open_cube
from cae.cube.readers import ReadOptions, read_sources, reader_for
from cae.errors import InputError
from cae_testing import SHARED_DATA, requires_shared_data

CALIFORNIA = SHARED_DATA / "s2" / "california_fresno_gee"


def california_files(count: int) -> list:
    return sorted(CALIFORNIA.glob("*.tif"))[:count]


@requires_shared_data
def test_the_earth_engine_export_becomes_a_cube_with_one_command(tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    files = california_files(12)
    for path in files:
        (folder / path.name).symlink_to(path)
    out = tmp_path / "fresno.zarr"
    assert run(["cube", "build", "--modality", "s2", str(folder), "--bands", "B02,B03,B04,B08", "--out", str(out)]) == 0
    assert "no cloud mask" in capsys.readouterr().err  # the export has none: said, and the temporal test made one
    cube = open_cube(out)
    assert cube.attrs["bands"] == ["B02", "B03", "B04", "B08"]
    assert set(cube.data_vars) == {"B02", "B03", "B04", "B08", "cloud_mask"}
    assert crs_label(crs_of(cube)) == "EPSG:32611"
    expected_dates = sorted(pd.to_datetime(path.name.split("_MSIL2A_")[1][:15], format="%Y%m%dT%H%M%S") for path in files)
    assert list(pd.DatetimeIndex(cube["time"].values)) == expected_dates
    for path in files[:3]:
        date = pd.to_datetime(path.name.split("_MSIL2A_")[1][:15], format="%Y%m%dT%H%M%S")
        with rasterio.open(path) as raster:
            numbers = raster.read().astype("float64")
            left, top = raster.bounds.left, raster.bounds.top
        for index, band in enumerate(["B02", "B03", "B04", "B08"]):  # the README's band order
            expected = np.where(numbers[index] == 0, np.nan, numbers[index] / 10000)  # baseline 02.1x: no offset
            np.testing.assert_allclose(cube[band].sel(time=date).values, expected, rtol=1e-6)
        assert cube["x"].values[0] == left + 5 and cube["y"].values[0] == top - 5


def _write(path, data: np.ndarray, like, **profile):
    """A GeoTIFF on the grid of the real file `like`, with `data` (band, y, x)."""
    with rasterio.open(like) as source:
        meta = {**source.profile, "count": data.shape[0], "dtype": data.dtype, "height": data.shape[1],
                "width": data.shape[2], **profile}
    with rasterio.open(path, "w", **meta) as target:
        target.write(data)
    return path


@requires_shared_data
def test_baseline_04_product_ids_subtract_the_boa_offset_from_digital_numbers(tmp_path, registry):
    source = california_files(1)[0]
    with rasterio.open(source) as raster:
        numbers = raster.read()
    old = _write(tmp_path / "S2A_MSIL2A_20220122T184651_N0301_R070_T11SKA_2022.tif", numbers, source)
    new = _write(tmp_path / "S2A_MSIL2A_20220201T184651_N0400_R070_T11SKA_2022.tif", numbers, source)
    cube = read_sources([old, new], registry.spec("s2"), ReadOptions(bands=("B02", "B03", "B04", "B08")))
    valid = numbers[2] > 0
    np.testing.assert_allclose(cube["B04"].values[0][valid], numbers[2][valid] / 10000, rtol=1e-6)
    np.testing.assert_allclose(cube["B04"].values[1][valid], (numbers[2][valid].astype("float64") - 1000) / 10000, rtol=1e-5, atol=1e-7)


@requires_shared_data
def test_digital_numbers_without_a_declared_scale_are_refused_naming_the_option(tmp_path, registry):
    source = california_files(1)[0]
    with rasterio.open(source) as raster:
        numbers = raster.read()
    renamed = _write(tmp_path / "fresno_2020-01-22.tif", numbers, source)
    options = ReadOptions(bands=("B02", "B03", "B04", "B08"))
    with pytest.raises(InputError, match=r"holds integers \(uint16: digital numbers\) and declares no scale; pass --scale"):
        read_sources([renamed], registry.spec("s2"), options)
    scaled = read_sources([renamed], registry.spec("s2"), ReadOptions(bands=options.bands, scale=1e-4))
    assert scaled["B02"].values[0, 0, 0] == pytest.approx(numbers[0, 0, 0] * 1e-4, rel=1e-6)
    assert pd.Timestamp(scaled["time"].values[0]) == pd.Timestamp("2020-01-22")  # the ISO date in the name


@requires_shared_data
def test_bands_come_from_band_descriptions_and_dates_from_tags_or_a_pattern(tmp_path, registry):
    source = california_files(1)[0]
    with rasterio.open(source) as raster:
        numbers = raster.read()
    path = _write(tmp_path / "scene_a.tif", numbers[[3, 2, 1, 0]], source)  # NIR first: the order the file says
    with rasterio.open(path, "r+") as raster:
        raster.descriptions = ("nir", "red", "green", "blue")  # Earth Search names: aliases
        raster.update_tags(datetime="2020-03-04T10:00:00")
        raster.scales, raster.offsets = (1e-4,) * 4, (0.0,) * 4
    cube = read_sources([path], registry.spec("s2"), ReadOptions())
    assert pd.Timestamp(cube["time"].values[0]) == pd.Timestamp("2020-03-04T10:00:00")
    np.testing.assert_allclose(cube["B08"].values[0], np.where(numbers[3] == 0, np.nan, numbers[3] * 1e-4), rtol=1e-6)
    np.testing.assert_allclose(cube["B02"].values[0], np.where(numbers[0] == 0, np.nan, numbers[0] * 1e-4), rtol=1e-6)


@requires_shared_data
def test_multi_band_files_without_names_are_refused_with_the_option_to_pass(tmp_path, registry):
    files = california_files(2)
    with pytest.raises(InputError, match=r"has 4 bands without names .*; pass their order, e.g. --bands B02,B03,B04,B08"):
        read_sources(files, registry.spec("s2"), ReadOptions())
    with pytest.raises(InputError, match="--bands names 3 bands but .* has 4"):
        read_sources(files, registry.spec("s2"), ReadOptions(bands=("B02", "B03", "B04")))


@requires_shared_data
def test_files_on_different_grids_are_refused(tmp_path, registry):
    source = california_files(1)[0]
    with rasterio.open(source) as raster:
        numbers = raster.read()
    first = _write(tmp_path / "a_2020-01-01.tif", numbers, source)
    second = _write(tmp_path / "b_2020-01-11.tif", numbers[:, :128, :128], source)
    with pytest.raises(InputError, match=r"b_2020-01-11.tif \(128 x 128 px, EPSG:32611\) is not on the grid of .*a_2020-01-01.tif"):
        read_sources([first, second], registry.spec("s2"), ReadOptions(bands=("B02", "B03", "B04", "B08"), scale=1e-4))


def test_a_date_pattern_that_finds_no_date_is_refused(tmp_path, poland_s1, registry):
    path = tmp_path / "scene_a_VH.tif"
    poland_s1["VH"].isel(time=0).rio.to_raster(path)
    with pytest.raises(InputError, match=r"--date-pattern 'scene_\(a\)' finds 'a' in scene_a_VH.tif, which is not a date"):
        read_sources([path], registry.spec("s1"), ReadOptions(date_pattern=r"scene_(a)", units="dB"))
    with pytest.raises(InputError, match="no date in the name or tags of scene_a_VH.tif; .* --date-pattern"):
        read_sources([path], registry.spec("s1"), ReadOptions(units="dB"))
    named = tmp_path / "pass_0201_of_2021_VH.tif"  # day and month before the year: only a pattern finds it
    poland_s1["VH"].isel(time=0).rio.to_raster(named)
    cube = read_sources([named], registry.spec("s1"), ReadOptions(date_pattern=r"pass_(?P<month>\d\d)(?P<day>\d\d)_of_(?P<year>\d{4})", units="dB"))
    assert pd.Timestamp(cube["time"].values[0]) == pd.Timestamp("2021-02-01")


def test_sentinel1_vh_files_of_another_provider_become_a_vh_only_cube(tmp_path, poland_s1, capsys):
    """The Poland series written as an RTC provider does (ASF-like names, linear power, VH only)."""
    folder = tmp_path / "rtc"
    folder.mkdir()
    series = poland_s1["VH"].isel(time=slice(0, 14))
    linear = 10 ** (series / 10)
    del linear.attrs["units"]  # linear power, untagged as such providers write it (xarray kept "dB")
    for date in series["time"].values:
        stamp = pd.Timestamp(date).strftime("%Y%m%dT%H%M%S")
        linear.sel(time=date).rio.to_raster(folder / f"S1A_IW_{stamp}_DVP_RTC20_G_gpuned_5F2A_VH.tif")
    out = tmp_path / "s1.zarr"
    assert run(["cube", "build", "--modality", "s1", str(folder), "--out", str(out)]) == 0
    cube = open_cube(out)
    assert list(cube.data_vars) == ["VH"]  # no VV invented
    np.testing.assert_allclose(cube["VH"].values, linear.values, rtol=1e-6)
    assert list(cube["time"].values.astype("datetime64[D]")) == list(series["time"].values.astype("datetime64[D]"))
    assert crs_of(cube).equals(crs_of(poland_s1))
    np.testing.assert_allclose(cube["x"].values, poland_s1["x"].values)


def test_sentinel1_files_in_db_need_units_and_then_read_as_db(tmp_path, poland_s1, registry):
    folder = tmp_path / "db"
    folder.mkdir()
    series = poland_s1["VH"].isel(time=slice(0, 12))
    for date in series["time"].values:
        series.sel(time=date).rio.to_raster(folder / f"{pd.Timestamp(date):%Y-%m-%d}_vh_db.tif")
    cube = read_sources([folder], registry.spec("s1"), ReadOptions(units="dB"))
    assert cube["VH"].attrs["units"] == "dB"
    np.testing.assert_allclose(cube["VH"].values, series.values, rtol=1e-6)
    integers = tmp_path / "db_x10"  # dB x 10 as int16, the way TU Wien and others store it
    integers.mkdir()
    for date in series["time"].values:
        (series.sel(time=date) * 10).round().astype("int16").rio.to_raster(integers / f"{pd.Timestamp(date):%Y%m%d}_VH.tif")
    with pytest.raises(InputError, match="--scale 0.1 --units dB"):
        read_sources([integers], registry.spec("s1"), ReadOptions(units="dB"))
    scaled = read_sources([integers], registry.spec("s1"), ReadOptions(scale=0.1, units="dB"))
    np.testing.assert_allclose(scaled["VH"].values, series.values, atol=0.05 + 1e-6)


def test_the_sensor_s_own_files_still_go_to_its_reader(tmp_path, registry):
    if not (SHARED_DATA / "s1").exists():
        pytest.skip("the raw real data in ../shared/data is not present")
    assert reader_for([SHARED_DATA / "s1" / "poland_vh_d022"], registry.spec("s1")) == "sensor"
    assert reader_for([SHARED_DATA / "s2" / "romania_10m.nc", SHARED_DATA / "s2" / "romania_20m.nc"], registry.spec("s2")) == "sensor"
    assert reader_for([CALIFORNIA], registry.spec("s2")) == "geotiff"


def test_a_layout_no_reader_knows_is_named_with_the_readers(tmp_path, registry):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "scene.jp2").write_bytes(b"\0")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no reader for .*odd \(found: 1 \.jp2, 1 \.txt\); cae cube build reads one STAC "
                                         r"item collection .*GeoTIFF/COG files"):
        reader_for([folder], registry.spec("s2"))
    assert run(["cube", "build", "--modality", "s2", str(folder), "--out", str(tmp_path / "c.zarr")]) == 2


def test_options_a_reader_cannot_use_are_refused(tmp_path, registry):
    stac = tmp_path / "items.json"
    stac.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match="--bands, --date-pattern cannot apply to the stac reader"):
        read_sources([stac], registry.spec("s2"), ReadOptions(bands=("B02",), date_pattern="x"))

