"""xarray datasets in other tools' layouts (openEO, stackstac/odc, xcube) normalised to cae's cube."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cae.cube.grid import crs_label, crs_of
from cae.cube.readers import ReadOptions, read_sources, reader_for
from cae.errors import InputError
from cae_testing import synthetic_cube
from romania_layouts import openeo_netcdf, romania_crop


def test_an_openeo_netcdf_comes_back_exactly(tmp_path, romania_s2, registry):
    original = romania_crop(romania_s2, dates=20, size=30)
    path = openeo_netcdf(original, tmp_path / "openeo.nc")
    assert reader_for([path], registry.spec("s2")) == "dataset"
    read = read_sources([path], registry.spec("s2"), ReadOptions())
    assert read.attrs["bands"] == original.attrs["bands"]
    for band in [*original.attrs["bands"], "SCL"]:
        np.testing.assert_array_equal(read[band].values, original[band].values.astype(read[band].dtype))  # float32, as cubes store it
    np.testing.assert_array_equal(read["time"].values, original["time"].values)
    np.testing.assert_array_equal(read["x"].values, original["x"].values)
    np.testing.assert_array_equal(read["y"].values, original["y"].values)
    assert crs_of(read).equals(crs_of(original))


def test_a_stackstac_layout_with_a_band_dimension_is_split_into_bands(tmp_path, romania_s2, registry):
    original = romania_crop(romania_s2, dates=12, size=24)
    names = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir"}
    stacked = original[list(names)].rename(names).to_dataarray("band").transpose("time", "band", "y", "x")
    path = tmp_path / "stackstac.zarr"
    stacked.to_dataset(name="stackstac").to_zarr(path, consolidated=False)
    read = read_sources([path], registry.spec("s2"), ReadOptions())
    assert read.attrs["bands"] == ["B02", "B03", "B04", "B08"]
    for band in names:
        np.testing.assert_array_equal(read[band].values, original[band].values.astype(read[band].dtype))  # float32, as cubes store it


def test_band_numbers_need_bands_named(tmp_path, romania_s2, registry):
    original = romania_crop(romania_s2, dates=12, size=24)
    stacked = original[["B02", "B03"]].to_dataarray("band").transpose("time", "band", "y", "x").assign_coords(band=[1, 2])
    path = tmp_path / "numbered.nc"
    stacked.to_dataset(name="reflectance").to_netcdf(path)
    with pytest.raises(InputError, match=r"reflectance keeps 2 bands along band without names; pass --bands"):
        read_sources([path], registry.spec("s2"), ReadOptions())
    read = read_sources([path], registry.spec("s2"), ReadOptions(bands=("B02", "B03")))
    np.testing.assert_array_equal(read["B03"].values, original["B03"].values.astype("float32"))


def test_a_geographic_cube_with_lat_lon_gets_epsg_4326_and_north_up(tmp_path, registry):
    """SYNTHETIC values on a lat/lon grid stored south up, as xcube writes them."""
    cube = synthetic_cube({"VH": -16.0}, n_times=12, height=16, width=16, epsg=None)
    geographic = cube.rename({"y": "lat", "x": "lon", "time": "t"}).assign_coords(
        lat=np.linspace(51.0, 51.015, 16), lon=np.linspace(15.0, 15.015, 16))
    path = tmp_path / "xcube.zarr"
    geographic.to_zarr(path, consolidated=False)
    read = read_sources([path], registry.spec("s1"), ReadOptions(units="dB"))
    assert crs_label(crs_of(read)) == "EPSG:4326"
    assert read["y"].values[0] > read["y"].values[-1]  # north up
    np.testing.assert_array_equal(read["VH"].values, geographic["VH"].values[:, ::-1, :])
    assert read["VH"].attrs["units"] == "dB"


def test_integer_variables_without_scale_factor_are_refused_and_cf_scales_are_applied(tmp_path, romania_s2, registry):
    original = romania_crop(romania_s2, dates=12, size=24)[["B02", "B03", "B04", "B08"]]
    numbers = (original * 10000).round().fillna(0).astype("uint16").rename(time="t")
    plain = tmp_path / "plain.nc"
    numbers.to_netcdf(plain)
    with pytest.raises(InputError, match=r"plain.nc: B02 holds integers \(uint16: digital numbers\) and declares no scale; pass --scale"):
        read_sources([plain], registry.spec("s2"), ReadOptions())
    declared = tmp_path / "declared.nc"
    original.drop_encoding().rename(time="t").to_netcdf(declared, encoding={name: {"scale_factor": 1e-4, "_FillValue": 0, "dtype": "uint16"} for name in numbers.data_vars})
    read = read_sources([declared], registry.spec("s2"), ReadOptions())
    np.testing.assert_allclose(read["B04"].values, original["B04"].values, atol=0.5e-4 + 1e-6, equal_nan=True)
    given = read_sources([plain], registry.spec("s2"), ReadOptions(scale=1e-4))
    np.testing.assert_allclose(given["B08"].values[np.isfinite(original["B08"].values)],
                               original["B08"].values[np.isfinite(original["B08"].values)], atol=0.5e-4 + 1e-6)


def test_a_dataset_without_time_or_grid_dimensions_is_refused(tmp_path, registry):
    path = tmp_path / "table.nc"
    xr.Dataset({"B02": ("row", np.arange(3.0))}).assign_coords(t=("t", [1])).to_netcdf(path)
    with pytest.raises(InputError, match=r"a cube needs time \(or t\), y and x \(or lat and lon\); missing: .*y, x"):
        read_sources([path], registry.spec("s2"), ReadOptions())
