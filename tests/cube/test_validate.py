"""Every cube validation error: one clear message, exit code 2, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cae.cli.app import run
from cae.cube.io import write_cube
from cae_testing import S2_LEVELS, synthetic_cube


def _check(tmp_path, capsys, *cubes: xr.Dataset) -> tuple[int, str]:
    paths = []
    for number, cube in enumerate(cubes):
        path = tmp_path / f"cube{number}.nc"
        cube.to_netcdf(path)
        paths.append(str(path))
    code = run(["cube", "check", *paths])
    captured = capsys.readouterr()
    return code, " ".join(captured.err.split())


def _s2(**changes) -> xr.Dataset:
    return synthetic_cube(S2_LEVELS, attrs={"modality": "s2"}, **changes)


def _assert_clean_failure(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error:")
    for fragment in fragments:
        assert fragment in err


def test_valid_synthetic_cube_passes(tmp_path, capsys):
    code, err = _check(tmp_path, capsys, _s2())
    assert code == 0, err


def test_missing_band(tmp_path, capsys):
    _assert_clean_failure(*_check(tmp_path, capsys, _s2().drop_vars("B04")), "missing band B04", "s2 needs")


def test_wrong_dims(tmp_path, capsys):
    cube = _s2()
    cube["B03"] = cube["B03"].transpose("time", "x", "y")
    _assert_clean_failure(*_check(tmp_path, capsys, cube), "band B03 has dims ('time', 'x', 'y')")


def test_no_crs(tmp_path, capsys):
    _assert_clean_failure(*_check(tmp_path, capsys, _s2(epsg=None)), "no CRS")


def test_non_monotonic_time(tmp_path, capsys):
    cube = _s2()
    order = np.arange(cube.sizes["time"])
    order[[3, 4]] = order[[4, 3]]
    _assert_clean_failure(*_check(tmp_path, capsys, cube.isel(time=order)), "time is not strictly increasing", "index 4")


def test_cube_smaller_than_a_patch(tmp_path, capsys):
    _assert_clean_failure(*_check(tmp_path, capsys, _s2(height=14, width=30)), "14 x 30 pixels", "15 x 15")


def test_fewer_than_11_valid_dates(tmp_path, capsys):
    cube = _s2()
    cube["SCL"] = xr.full_like(cube["B02"], 9, dtype="uint8")  # clouds, high probability
    cube["SCL"][:10] = 4  # vegetation: clear on 10 dates only
    _assert_clean_failure(*_check(tmp_path, capsys, cube), "only 10 usable dates", "needs 11")


def test_grids_of_s1_and_s2_that_differ(tmp_path, capsys):
    s1 = synthetic_cube({"VH": 0.02}, height=20, width=21, attrs={"modality": "s1"})
    _assert_clean_failure(*_check(tmp_path, capsys, _s2(), s1), "grids of s2", "and s1", "differ")


def test_s1_on_the_s2_grid_is_aligned_and_missing_dates_reported(tmp_path, capsys, registry):
    from cae.cube.stack import load_stack

    # SYNTHETIC S1 from 2020-02-01: the S2 dates 01-01 .. 01-16 lie more than 12 days away.
    s1 = synthetic_cube({"VH": 0.02}, n_times=12, every_days=12, start="2020-02-01", attrs={"modality": "s1"})
    paths = [tmp_path / "s2.nc", tmp_path / "s1.nc"]
    _s2().to_netcdf(paths[0])
    s1.to_netcdf(paths[1])
    stack = load_stack(paths, registry)
    assert stack.time_axis == "s2"
    np.testing.assert_array_equal(stack.modalities["s1"].times, stack.times)
    assert np.isnan(stack.modalities["s1"].offset_days[:4]).all()
    assert np.isfinite(stack.modalities["s1"].offset_days[4:]).all()
    assert run(["cube", "check", *map(str, paths)]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│ s1")][0]
    assert row.rstrip(" │").endswith("4")


def test_several_problems_are_reported_together(tmp_path, capsys):
    code, err = _check(tmp_path, capsys, _s2(epsg=None, height=10).drop_vars("B08"))
    _assert_clean_failure(code, err, "missing band B08", "no CRS", "10 x 20 pixels")


def test_missing_cube_file(tmp_path, capsys):
    code = run(["cube", "check", str(tmp_path / "absent.zarr")])
    _assert_clean_failure(code, " ".join(capsys.readouterr().err.split()), "no cube at")


def test_debug_shows_the_traceback_and_keeps_exit_code_2(tmp_path, capsys):
    path = tmp_path / "small.nc"
    _s2(height=10).to_netcdf(path)
    assert run(["--debug", "cube", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "CubeError" in err and "error:" in err and "15 x 15" in err


def test_zarr_cube_round_trips_through_write_cube(tmp_path, capsys, registry):
    path = write_cube(_s2(), tmp_path / "cube.zarr")
    assert run(["cube", "check", str(path)]) == 0
    assert "EPSG:3035" in capsys.readouterr().out
