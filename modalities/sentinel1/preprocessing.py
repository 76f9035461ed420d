"""Sentinel-1 preprocessing (DESIGN 2), in the paper's order.

The rolling mean runs over the modality's own acquisitions, before it is aligned to the
time axis, and in linear power: averaging dB values would be a geometric mean.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from cae.cube.prepare import invalid_from_mask_variable
from cae.cube.values import summarise
from cae.errors import CubeError
from cae.plugins.contract import ModalitySpec, PreparedModality

DB_RANGE = (-30.0, 5.0)
ROLLING_ACQUISITIONS = 3
_DB_UNITS = {"db", "decibel", "decibels"}


def is_decibel(band: xr.DataArray, cube: xr.Dataset) -> bool:
    """True when the band's (or the cube's) `units` attribute says the values are dB."""
    units = band.attrs.get("units", cube.attrs.get("units", "linear"))
    return str(units).strip().lower() in _DB_UNITS


#: Share of linear values that may be negative: thermal noise removal leaves a few over dark
#: surfaces (they become invalid pixels). Linear power of natural surfaces stays below ~1.
NEGATIVE_TOLERANCE = 0.05
LINEAR_POWER_MEDIAN_MAX = 2.0


def unit_problems(cube: xr.Dataset, bands: tuple[str, ...]) -> list[str]:
    """Each band whose values do not fit the unit it declares, and what they look like instead."""
    problems = []
    for name in bands:
        values = summarise(cube[name])
        declared = "dB" if is_decibel(cube[name], cube) else "linear power"
        if values.count == 0:
            problems.append(f"{name} holds no value but NaN or 0 on any date; remove the band from the cube")
        elif values.median > LINEAR_POWER_MEDIAN_MAX:
            problems.append(
                f"{name} (declared {declared}) looks like amplitude digital numbers ({values.describe()}); "
                "calibrate it to sigma0 or gamma0 backscatter, in linear power or dB, first"
            )
        elif declared == "dB" and values.negative_share < 0.5:
            problems.append(
                f"{name} is declared dB but is mostly >= 0 ({values.describe()}): it looks like linear power; "
                f"set units='linear' on {name}"
            )
        elif declared == "linear power" and values.negative_share > 0.5:
            problems.append(
                f"{name} is declared linear power but is mostly negative ({values.describe()}): it looks like dB; "
                f"set the attribute units='dB' on {name}"
            )
        elif declared == "linear power" and values.negative_share > NEGATIVE_TOLERANCE:
            problems.append(
                f"{name} is {values.negative_share:.0%} negative ({values.describe()}): neither linear power (a few "
                "negative values after noise removal at most) nor dB (mostly negative); check how it was scaled"
            )
    return problems


def to_linear_power(cube: xr.Dataset, name: str) -> xr.DataArray:
    """One polarisation in linear power, whichever of linear or dB the cube stores (checked
    by `unit_problems`); the few negative linear values noise removal leaves become invalid."""
    band = cube[name].astype("float64")
    if is_decibel(band, cube):
        # An exact 0 dB is a loader's nodata fill (odc-stac fills with 0), not a measurement.
        return 10.0 ** (band.where(band != 0) / 10.0)
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
    problems = unit_problems(cube, bands)
    if problems:
        raise CubeError(problems)
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
