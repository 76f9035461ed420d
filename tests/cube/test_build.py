"""Cubes built from the real raw data: the bundled demo cubes and fresh builds from ../shared."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from pyproj import CRS

from cae.cli.app import run
from cae.cube.grid import crs_label, crs_of, resolution_of
from cae.cube.io import open_cube, write_cube
from cae_testing import SHARED_DATA, requires_shared_data


def test_romania_cube_has_six_bands_at_10_m_and_140_dates(romania_s2):
    assert set(romania_s2.data_vars) == {"B02", "B03", "B04", "B08", "B8A", "B11", "SCL"}
    assert romania_s2.attrs["bands"] == ["B02", "B03", "B04", "B08", "B8A", "B11"]
    assert romania_s2.sizes == {"time": 140, "y": 100, "x": 100}
    assert resolution_of(romania_s2) == (10.0, 10.0)
    assert "SCL" in romania_s2
    for absent in ("B05", "B06", "B07", "B12"):
        assert absent not in romania_s2  # never invented
    assert crs_label(crs_of(romania_s2)) == "EPSG:3035"


def test_romania_cube_values_are_reflectance(romania_s2):
    values = romania_s2["B04"].values
    assert np.nanmedian(values) < 0.2 and np.nanmin(values) > 0


def test_poland_cube_has_107_complete_vh_dates_in_source_crs(poland_s1):
    assert list(poland_s1.data_vars) == ["VH"]
    assert poland_s1.sizes == {"time": 107, "y": 74, "x": 50}
    assert poland_s1["VH"].attrs["units"] == "dB"
    values = poland_s1["VH"].values
    assert np.isfinite(values).all()  # every date complete after merging its slices
    assert -28.5 < values.min() and values.max() < -9.0
    assert np.median(values) == pytest.approx(-16.4, abs=0.05)
    assert len(np.unique(poland_s1["time"].values.astype("datetime64[D]"))) == 107
    assert crs_label(crs_of(poland_s1)) == "EPSG:27704"


@requires_shared_data
def test_s2_build_from_netcdf_matches_the_sources(registry, tmp_path):
    spec = registry.spec("s2")
    cube = spec.build_cube([SHARED_DATA / "s2" / "romania_10m.nc", SHARED_DATA / "s2" / "romania_20m.nc"])
    ten = xr.open_dataset(SHARED_DATA / "s2" / "romania_10m.nc")
    twenty = xr.open_dataset(SHARED_DATA / "s2" / "romania_20m.nc")
    np.testing.assert_allclose(cube["B02"].values, ten["B2"].values / 10000, rtol=1e-6)
    np.testing.assert_allclose(cube["B03"].values, ten["B3"].values / 10000, rtol=1e-6)  # 10 m wins over 20 m
    for rows, cols in ((slice(0, None, 2), slice(0, None, 2)), (slice(1, None, 2), slice(1, None, 2))):
        np.testing.assert_allclose(cube["B11"].values[:, rows, cols], twenty["B11"].values / 10000, rtol=1e-6)
    np.testing.assert_array_equal(cube["SCL"].values, ten["SCL"].values.astype("uint8"))
    assert crs_of(cube).equals(crs_of(ten.set_coords("spatial_ref")))
    path = write_cube(cube, tmp_path / "romania.zarr")
    reread = open_cube(path)
    np.testing.assert_allclose(reread["B8A"].values, cube["B8A"].values, atol=1e-7)


@requires_shared_data
def test_s1_build_from_geotiffs_merges_slices_by_nan_max(registry):
    folder = SHARED_DATA / "s1" / "poland_vh_d022"
    cube = registry.spec("s1").build_cube([folder])
    assert cube.sizes == {"time": 107, "y": 74, "x": 50}
    first_date = sorted(folder.glob("*/SIG0_20200701T*__VH_*.tif"))
    slices = []
    for path in first_date:
        with rasterio.open(path) as raster:
            data = raster.read(1).astype("float64")
            assert crs_of(cube).equals(CRS.from_wkt(raster.crs.to_wkt()))
            slices.append(np.where(data == -9999, np.nan, data / 10))
    expected = np.nanmax(np.stack(slices), axis=0)
    np.testing.assert_allclose(cube["VH"].isel(time=0).values, expected, atol=1e-5)
    with rasterio.open(first_date[0]) as raster:
        left, top = raster.bounds.left, raster.bounds.top
    assert cube["x"].values[0] == left + 10 and cube["y"].values[0] == top - 10


def test_cube_build_command_writes_and_validates(tmp_path, capsys):
    source = tmp_path / "scenes"
    source.mkdir()
    if not (SHARED_DATA / "s1").exists():
        pytest.skip("the raw real data in ../shared/data is not present")
    for path in sorted((SHARED_DATA / "s1" / "poland_vh_d022").glob("*/SIG0_2020*.tif"))[:60]:
        (source / path.name).symlink_to(path)
    out = tmp_path / "s1.zarr"
    assert run(["cube", "build", str(source), "--modality", "s1", "--out", str(out)]) == 0
    assert open_cube(out).sizes["time"] == 20
    assert run(["cube", "build", str(source), "--modality", "s1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
