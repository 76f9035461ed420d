"""Cube validation: every problem found, each in one clear sentence."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from cae.cube.grid import crs_label, crs_of, same_grid
from cae.errors import CubeError
from cae.geometry import PATCH_SIZE
from cae.plugins.contract import ModalitySpec

DIMS = ("time", "y", "x")


def cube_problems(cube: xr.Dataset, spec: ModalitySpec) -> list[str]:
    """What keeps `cube` from being used as input of modality `spec`; empty when usable."""
    problems = []
    present = spec.bands_in(list(cube.data_vars))
    missing = [name for name in spec.required_bands if name not in present]
    if missing:
        problems.append(
            f"missing band{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"({spec.name} needs {', '.join(spec.required_bands) or 'no fixed band'}; "
            f"bands found: {', '.join(present) or 'none'}; {variables_found(cube, spec.band_names)})"
        )
    elif len(present) < spec.min_bands:
        problems.append(
            f"{spec.name} needs at least {spec.min_bands} of the bands "
            f"{', '.join(spec.band_names)}; found {', '.join(present) or 'none'}"
        )
    for name in present:
        if cube[name].dims != DIMS:
            problems.append(f"band {name} has dims {cube[name].dims}; expected {DIMS}")
    if "time" not in cube.coords:
        problems.append("no time coordinate")
    else:
        problems += _time_problems(cube["time"].values)
    if "x" not in cube.coords or "y" not in cube.coords:
        problems.append("no x/y coordinates: a cube needs the pixel-centre coordinates of its grid")
    elif (grid := _axis_problems(cube, "x") + _axis_problems(cube, "y")):
        problems += grid
    elif crs_of(cube) is None:
        problems.append(
            "no CRS: add a grid-mapping variable (CF `crs_wkt` or GDAL `spatial_ref`), "
            "e.g. with rioxarray's `cube.rio.write_crs(...)`"
        )
    height, width = cube.sizes.get("y", 0), cube.sizes.get("x", 0)
    if height < PATCH_SIZE or width < PATCH_SIZE:
        problems.append(
            f"cube is {height} x {width} pixels; a sample needs at least {PATCH_SIZE} x {PATCH_SIZE}"
        )
    return problems


def variables_found(cube: xr.Dataset, band_names: Iterable[str]) -> str:
    """What a cube holds, for a message: its variables and their dims, the band names closest
    to them, and the stackstac/odc-stac layout named where a variable keeps its bands along
    a `band` dimension."""
    import difflib

    known = list(band_names)
    text = "variables found: " + (", ".join(f"{name}{tuple(cube[name].dims)}" for name in cube.data_vars) or "none")
    close = sorted({match for variable in cube.data_vars
                    for match in difflib.get_close_matches(str(variable).upper(), known, n=1, cutoff=0.6)})
    if close:
        text += f"; the closest band names: {', '.join(close)} (rename the variables)"
    stacked = [name for name in cube.data_vars if "band" in cube[name].dims]
    if stacked:
        text += (f"; {stacked[0]} keeps its bands along a `band` dimension (the stackstac/odc-stac layout): split it "
                 f"into one variable per band, e.g. cube['{stacked[0]}'].to_dataset('band')")
    return text


def _axis_problems(cube: xr.Dataset, axis: str) -> list[str]:
    """Pixel centres along `axis` that do not form a regular grid (y must already be north-up)."""
    values = np.asarray(cube[axis].values, dtype="float64")
    if np.isnan(values).any():
        return [f"{int(np.isnan(values).sum())} {axis} coordinates are NaN: every pixel centre must be known"]
    if len(values) < 2:
        return []
    steps = np.diff(values)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        return [f"{axis} is not sorted (pixels out of order); sort the cube with "
                f"cube.sortby('{axis}', ascending={axis != 'y'})"]
    if axis == "x" and steps[0] < 0:
        return ["x descends (east to west); sort the cube with cube.sortby('x')"]
    if not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        return [f"{axis} is not evenly spaced (steps from {abs(steps).min():g} to {abs(steps).max():g}: gaps or seams); "
                "put the cube on a regular grid, e.g. with rioxarray's reproject_match onto one"]
    return []


def _time_problems(times: np.ndarray) -> list[str]:
    if not np.issubdtype(times.dtype, np.datetime64):
        example = f" (e.g. '{times.flat[0]}')" if times.size else ""
        if times.dtype.kind in "UOS":
            return [f"time holds text, not dates{example}; convert it, e.g. "
                    "cube['time'] = pandas.to_datetime(cube['time'].values)"]
        return [f"time holds {times.dtype} numbers{example}, not dates; decode them to datetime64 "
                "(xarray does so when the variable has CF `units` such as 'days since 2020-01-01')"]
    steps = np.diff(times)
    if np.any(steps <= np.timedelta64(0)):
        first = int(np.argmax(steps <= np.timedelta64(0)))
        return [
            "time is not strictly increasing: "
            f"{np.datetime_as_string(times[first], 'D')} is followed by "
            f"{np.datetime_as_string(times[first + 1], 'D')} (index {first + 1}); sort the cube by time"
        ]
    return []


def check_cube(cube: xr.Dataset, spec: ModalitySpec, source: str = "cube") -> None:
    """Raise a CubeError listing every problem of `cube` for modality `spec`."""
    problems = cube_problems(cube, spec)
    if problems:
        raise CubeError(problems, source)


def check_same_grid(reference: xr.Dataset, other: xr.Dataset, names: tuple[str, str]) -> None:
    """Raise unless both cubes lie on the same pixels (a modality must share the time axis grid)."""
    if not same_grid(reference, other):
        raise CubeError(
            [
                f"the grids of {names[0]} ({reference.sizes['y']} x {reference.sizes['x']}, "
                f"{crs_label(crs_of(reference))}) and {names[1]} ({other.sizes['y']} x {other.sizes['x']}, "
                f"{crs_label(crs_of(other))}) differ; resample {names[1]} onto the grid of {names[0]} "
                "(e.g. rioxarray's reproject_match)"
            ],
            "cubes",
        )
