"""Cubes written by cae open georeferenced in plain xarray + rioxarray, not only in `open_cube`."""

from __future__ import annotations

import warnings

import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from cae.cube.grid import crs_label, crs_of
from cae.cube.io import write_cube
from cae.data import demo_cube_path


def test_a_written_cube_opens_with_its_crs_in_plain_xarray_and_rioxarray(tmp_path):
    # The bundled cube was written before this fix: its spatial_ref is a data variable and
    # its bands name no grid mapping, the case the issue reports.
    source = xr.open_zarr(demo_cube_path("s2"), consolidated=False).isel(time=slice(0, 3))
    assert "spatial_ref" in source.data_vars
    written = write_cube(source, tmp_path / "s2.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no consolidated-metadata warning either
        cube = xr.open_zarr(written)
    assert "spatial_ref" in cube.coords and "spatial_ref" not in cube.data_vars
    for name in ("B02", "B03", "B04", "B08", "SCL"):
        assert cube[name].attrs["grid_mapping"] == "spatial_ref"
        assert crs_label(crs_of(cube[name])) == "EPSG:3035"
    assert crs_label(crs_of(cube)) == "EPSG:3035"
    assert cube.rio.transform() == source.rio.transform()
