"""Building a Sentinel-2 cube from L2A NetCDF files of one area.

Bands come at 10, 20 or 60 m in separate files. The cube lies on the finest grid; coarser
bands are resampled by nearest neighbour, i.e. each 20 m pixel is repeated over the 2 x 2
10 m pixels it contains. That invents no values and is exact where the grids nest, which
is checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from cae.cube.grid import crs_of, resolution_of, with_crs
from cae.cube.io import open_cube
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec
from cae.modalities.sentinel2.preprocessing import SCENE_CLASSIFICATION

#: L2A digital numbers -> surface reflectance (processing baselines before 04.00: no offset).
REFLECTANCE_SCALE = 1e-4
_BAND_NAME = re.compile(r"^B0?(\d{1,2})(A?)$", re.IGNORECASE)


def canonical_band_name(name: str) -> str:
    """'B2' and 'b02' -> 'B02'; 'B8A' stays 'B8A'; anything else is returned unchanged."""
    match = _BAND_NAME.match(name)
    if not match:
        return name
    number, suffix = match.groups()
    return f"B{int(number)}A" if suffix else f"B{int(number):02d}"


def build_from_netcdf(paths: Sequence[Path], spec: ModalitySpec, reflectance_offset: float = 0.0) -> xr.Dataset:
    """Merge L2A files of one area into a cube on the finest grid, reflectance = DN / 10000."""
    if not paths:
        raise InputError("no input files given")
    sources = sorted((_open_source(Path(path)) for path in paths), key=lambda item: item[1])
    finest, finest_resolution = sources[0][0], sources[0][1]
    crs = crs_of(finest)
    for source, _, path in sources[1:]:
        if not np.array_equal(source["time"].values, finest["time"].values):
            raise InputError(f"{path} has other dates than {sources[0][2]}; files of one cube must share dates")
        if crs is None or crs_of(source) is None or not crs_of(source).equals(crs):
            raise InputError(f"{path} and {sources[0][2]} have different or missing CRS")
    variables: dict[str, xr.DataArray] = {}
    origin: dict[str, str] = {}
    for source, resolution, path in sources:
        for name in source.data_vars:
            band = canonical_band_name(str(name))
            if band in variables or (band not in spec.band_names and band != SCENE_CLASSIFICATION):
                continue
            data = source[name]
            if resolution != finest_resolution:
                data = _nest_onto(data, finest, resolution, finest_resolution, path)
            variables[band] = data
            origin[band] = f"{path.name} ({resolution:g} m)"
    bands = spec.bands_in(list(variables))
    if not bands:
        raise InputError(f"no {spec.name} band in {', '.join(str(p) for p in paths)}")
    cube = xr.Dataset(coords={"time": finest["time"], "y": finest["y"], "x": finest["x"]})
    for band in bands:
        reflectance = variables[band].astype("float32") * REFLECTANCE_SCALE + reflectance_offset
        cube[band] = reflectance.where(variables[band] > 0)  # DN 0 is L2A's no-data value
        cube[band].attrs = {"units": "reflectance", "source": origin[band]}
        cube[band].encoding = {
            "dtype": "uint16",
            # float32 scale and offset: xarray then decodes to float32, not float64.
            "scale_factor": np.float32(REFLECTANCE_SCALE),
            "add_offset": np.float32(reflectance_offset),
            "_FillValue": 0,
        }
    if SCENE_CLASSIFICATION in variables:
        scene = variables[SCENE_CLASSIFICATION]
        cube[SCENE_CLASSIFICATION] = scene.fillna(0).astype("uint8")
        cube[SCENE_CLASSIFICATION].attrs = {"long_name": "L2A scene classification", "source": origin[SCENE_CLASSIFICATION]}
    cube = with_crs(cube, crs)
    cube.attrs = {
        "modality": spec.name,
        "bands": list(bands),
        "resolution_m": finest_resolution,
        "resampling": "nearest neighbour onto the finest grid (coarse pixels repeated, grids nest)",
        "reflectance": f"DN * {REFLECTANCE_SCALE} + {reflectance_offset}",
        "sources": [str(Path(path).name) for path in paths],
    }
    return cube


def _open_source(path: Path) -> tuple[xr.Dataset, float, Path]:
    source = open_cube(path)
    if "x" not in source.coords or "y" not in source.coords or "time" not in source.coords:
        raise InputError(f"{path} lacks time/y/x coordinates")
    return source, resolution_of(source)[0], path


def _nest_onto(data: xr.DataArray, target: xr.Dataset, resolution: float, target_resolution: float, path: Path) -> xr.DataArray:
    """Nearest-neighbour resampling of a coarse band onto a finer grid that nests in it.

    Each fine pixel takes the coarse pixel that contains its centre (the tolerance of half
    a coarse pixel guarantees it), so no value is interpolated.
    """
    factor = resolution / target_resolution
    if abs(factor - round(factor)) > 1e-6:
        raise InputError(f"{path}: {resolution:g} m does not nest in {target_resolution:g} m")
    half = resolution / 2 + 1e-6 * resolution
    inside = (
        (target["x"].min() >= data["x"].min() - half)
        & (target["x"].max() <= data["x"].max() + half)
        & (target["y"].min() >= data["y"].min() - half)
        & (target["y"].max() <= data["y"].max() + half)
    )
    if not bool(inside):
        raise InputError(f"{path} does not cover the {target_resolution:g} m grid")
    return data.reindex(x=target["x"], y=target["y"], method="nearest", tolerance=half)
