"""`cae cube build --like`: the real Poland S1 cube, moved by the test onto another grid, put back
on an S2 grid. Poland has no real S2, so the S2 cube here is SYNTHETIC: constant reflectance
on the Poland S1 grid, padded by `PAD` pixels on every side (where S1 has no data)."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.enums import Resampling

from cae.cli.app import run
from cae.cube.coregister import put_on_grid_of
from cae.cube.grid import crs_label, crs_of, same_grid, with_crs
from cae.cube.io import open_cube, write_cube
from cae.errors import InputError

PAD = 6


def synthetic_s2_on(grid: xr.Dataset, dates) -> xr.Dataset:
    """SYNTHETIC S2 cube (constant reflectance, SCL 'vegetation') on `grid` padded by PAD pixels."""
    step_x = float(grid["x"][1] - grid["x"][0])
    step_y = float(grid["y"][1] - grid["y"][0])
    x = grid["x"].values[0] + step_x * np.arange(-PAD, grid.sizes["x"] + PAD)
    y = grid["y"].values[0] + step_y * np.arange(-PAD, grid.sizes["y"] + PAD)
    shape = (len(dates), len(y), len(x))
    rng = np.random.default_rng(0)
    bands = {name: (("time", "y", "x"), (level + 0.01 * rng.random(shape)).astype("float32"))
             for name, level in (("B02", 0.03), ("B03", 0.05), ("B04", 0.04), ("B08", 0.3))}
    bands["SCL"] = (("time", "y", "x"), np.full(shape, 4, dtype="uint8"))
    cube = xr.Dataset(bands, coords={"time": dates, "y": y, "x": x}, attrs={"modality": "s2", "synthetic": "yes"})
    return with_crs(cube, crs_of(grid))


@pytest.fixture(scope="module")
def poland_elsewhere(poland_s1) -> xr.Dataset:
    """The real Poland S1 cube moved to UTM 33N at 15 m (from Equi7Grid at 20 m), nearest neighbour."""
    moved = poland_s1.rio.reproject("EPSG:32633", resolution=15, resampling=Resampling.nearest, nodata=np.nan)
    return moved.transpose("time", "y", "x")


def test_s1_on_another_grid_is_put_on_the_s2_grid_and_cube_check_accepts_the_pair(poland_s1, poland_elsewhere, tmp_path, capsys):
    s2 = write_cube(synthetic_s2_on(poland_s1, poland_s1["time"].values), tmp_path / "synthetic_s2.zarr")
    elsewhere = write_cube(poland_elsewhere, tmp_path / "s1_utm.zarr")
    assert run(["cube", "check", str(s2), str(elsewhere)]) == 2  # another grid: refused
    assert "differ; resample s1 onto the grid of s2" in capsys.readouterr().err

    out = tmp_path / "s1_like.zarr"
    assert run(["cube", "build", "--modality", "s1", str(elsewhere), "--like", str(s2), "--out", str(out)]) == 0
    capsys.readouterr()
    assert run(["cube", "check", str(s2), str(out)]) == 0
    table = capsys.readouterr().out
    padded = f"{poland_s1.sizes['y'] + 2 * PAD} x {poland_s1.sizes['x'] + 2 * PAD}"
    assert table.count(padded) == 2 and table.count("EPSG:27704") == 2  # s2 and s1 rows on one grid

    s1, reference = open_cube(out), open_cube(s2)
    assert same_grid(s1, reference) and crs_label(crs_of(s1)) == "EPSG:27704"
    assert np.array_equal(s1["time"].values, poland_s1["time"].values)
    recorded = s1.attrs["coregistration"]
    assert recorded["like"] == str(s2) and recorded["resampling"] == {"VH": "bilinear in linear power"}
    assert recorded["crs"] == "EPSG:27704" and recorded["source_crs"] == "EPSG:32633"
    assert recorded["shape"] == [poland_s1.sizes["y"] + 2 * PAD, poland_s1.sizes["x"] + 2 * PAD]
    # Round trip: back on the original pixels, within resampling error (measured: median 0.21 dB, 90th percentile 0.61).
    inner = s1["VH"].isel(y=slice(PAD, -PAD), x=slice(PAD, -PAD))
    assert np.allclose(inner["x"], poland_s1["x"]) and np.allclose(inner["y"], poland_s1["y"])
    difference = np.abs(inner.values - poland_s1["VH"].values)
    assert np.nanmedian(difference) < 0.5 and np.nanquantile(difference, 0.9) < 1.2
    assert np.isfinite(inner.values).mean() > 0.99
    # Outside the S1 footprint: no data, never a number (0 dB would be a very bright target).
    border = s1["VH"].values.copy()
    border[:, PAD:-PAD, PAD:-PAD] = np.nan
    assert np.isnan(border).all()


def test_categorical_variables_are_resampled_by_nearest_neighbour(romania_s2):
    """SCL classes are never interpolated into classes that were not there."""
    cube = romania_s2.isel(time=slice(0, 3))
    cube = cube.assign(SCL=cube["SCL"].rio.write_nodata(0, encoded=False))  # L2A's no-data class
    moved = cube.rio.reproject("EPSG:32634", resolution=10, resampling=Resampling.nearest)
    back = put_on_grid_of(moved.transpose("time", "y", "x"), cube, reference_name="romania")
    assert back["SCL"].dtype == np.uint8 and back.attrs["coregistration"]["resampling"]["SCL"] == "nearest"
    assert set(np.unique(back["SCL"].values)) <= set(np.unique(cube["SCL"].values)) | {0}  # 0: no data
    assert (back["SCL"].values == cube["SCL"].values).mean() > 0.9
    assert back.attrs["coregistration"]["resampling"]["B02"] == "bilinear"


def test_cubes_that_do_not_overlap_are_refused(poland_s1, romania_s2):
    with pytest.raises(InputError, match=r"do not overlap: no pixel of the cube falls on the reference grid"):
        put_on_grid_of(poland_s1, romania_s2, reference_name="romania.zarr")


def test_a_reference_without_crs_is_refused(poland_s1):
    reference = poland_s1.drop_vars("spatial_ref")
    with pytest.raises(InputError, match=r"reference has no CRS"):
        put_on_grid_of(poland_s1, reference, reference_name="reference")


def test_an_unknown_resampling_is_a_usage_error(poland_s1, tmp_path, capsys):
    cube = write_cube(poland_s1, tmp_path / "s1.zarr")
    code = run(["cube", "build", "--modality", "s1", str(cube), "--like", str(cube), "--resampling", "spline",
                "--out", str(tmp_path / "out.zarr")])
    assert code == 2 and "'spline' is not one of bilinear, nearest, cubic, average" in capsys.readouterr().err
    assert not (tmp_path / "out.zarr").exists()

