"""Sentinel-1 preprocessing (DESIGN 2), in the paper's order.

The rolling mean runs over the modality's own acquisitions, before it is aligned to the
time axis, and in linear power: averaging dB values would be a geometric mean.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from cae.cube.prepare import invalid_from_mask_variable
from cae.errors import CubeError
from cae.modality import ModalitySpec, PreparedModality

DB_RANGE = (-30.0, 5.0)
ROLLING_ACQUISITIONS = 3
_DB_UNITS = {"db", "decibel", "decibels"}


def is_decibel(band: xr.DataArray, cube: xr.Dataset) -> bool:
    """True when the band's (or the cube's) `units` attribute says the values are dB."""
    units = band.attrs.get("units", cube.attrs.get("units", "linear"))
    return str(units).strip().lower() in _DB_UNITS


def to_linear_power(cube: xr.Dataset, name: str) -> xr.DataArray:
    """One polarisation in linear power, whichever of linear or dB the cube stores."""
    band = cube[name].astype("float64")
    if is_decibel(band, cube):
        return 10.0 ** (band / 10.0)
    if float(band.min(skipna=True)) < 0:
        raise CubeError(
            [f"{name} has negative values, so it is not linear power; "
             f"if it is in dB, set the attribute units='dB' on {name}"]
        )
    return band


def backscatter_to_unit_range(linear: xr.DataArray) -> xr.DataArray:
    """Linear power -> centred rolling mean over 3 acquisitions -> dB -> clip -> (dB + 30) / 35.

    At the first and last acquisition, and next to a gap, the mean is over the
    acquisitions that exist (at least one).
    """
    smoothed = linear.rolling(time=ROLLING_ACQUISITIONS, center=True, min_periods=1).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        decibel = 10.0 * np.log10(smoothed)
    low, high = DB_RANGE
    return ((decibel.clip(low, high) - low) / (high - low)).astype("float32")


def preprocess_backscatter(cube: xr.Dataset, spec: ModalitySpec, mask_variable: str | None) -> PreparedModality:
    bands = spec.bands_in(list(cube.data_vars))
    linear = xr.concat([to_linear_power(cube, name) for name in bands], dim="band")
    linear = linear.assign_coords(band=list(bands))
    # Valid where this acquisition itself was measured: smoothing may fill a gap, the mask does not.
    valid = (np.isfinite(linear) & (linear > 0)).all("band")
    if mask_variable is not None:
        valid = valid & ~invalid_from_mask_variable(cube, mask_variable)
    values = backscatter_to_unit_range(linear.where(linear > 0))
    parameters = {
        "bands": list(bands),
        "rolling_mean_acquisitions": ROLLING_ACQUISITIONS,
        "db_range": list(DB_RANGE),
        "input_units": {name: "dB" if is_decibel(cube[name], cube) else "linear" for name in bands},
        "mask_variable": mask_variable,
    }
    return PreparedModality(spec.name, bands, values, valid, parameters)
