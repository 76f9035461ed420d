"""From a validated cube to model input: preprocessing, the time axis, alignment."""

from __future__ import annotations

import numpy as np
import xarray as xr

from cae.cube.aliases import with_canonical_names
from cae.cube.grid import north_up
from cae.cube.io import reading
from cae.cube.validate import check_cube
from cae.errors import CubeError, InputError
from cae.geometry import N_DATES
from cae.plugins.contract import ModalitySpec, PreparedModality


def invalid_from_mask_variable(cube: xr.Dataset, name: str) -> xr.DataArray:
    """Where a user-named mask variable marks pixels invalid: non-zero or NaN (unknown)."""
    if name not in cube.variables:
        raise InputError(f"mask variable {name!r} is not in the cube; variables: {', '.join(cube.data_vars)}")
    mask = cube[name]
    if mask.dims != ("time", "y", "x"):
        raise InputError(f"mask variable {name!r} has dims {mask.dims}; expected ('time', 'y', 'x')")
    return (mask != 0) | mask.isnull()


def prepare_modality(
    cube: xr.Dataset,
    spec: ModalitySpec,
    *,
    mask_variable: str | None = None,
    source: str = "cube",
    load: bool = True,
) -> PreparedModality:
    """Validate `cube`, run the plugin's preprocessing and keep its usable dates.

    With `load` False the values stay lazy (dask, when the cube was opened that way), so
    `cae embed` reads a large cube one chunk at a time; only the per-date valid fraction
    is computed up front.

    Bands named by an alias (`red`, `B4`) are renamed to the plugin's names first
    (`cae.cube.aliases`), and a south-up cube (y ascending) is flipped north-up
    (`cae.cube.grid.north_up`).
    The plugin maps raw values into [0, 1] and says which pixels are valid; here every
    non-finite value becomes invalid too, invalid values become NaN (so nothing downstream
    can mistake them for data), and a time-axis modality keeps only dates valid on at least
    `spec.min_valid_fraction` of the cube.
    """
    cube = north_up(with_canonical_names(cube, spec))
    check_cube(cube, spec, source)
    with reading(source):
        prepared = spec.preprocess(cube, mask_variable=mask_variable)
        values = prepared.values.transpose("time", "band", "y", "x").astype("float32")
        valid = prepared.valid.transpose("time", "y", "x") & np.isfinite(values).all("band")
        parameters = dict(prepared.parameters)
        if spec.defines_time_axis:
            fraction = valid.mean(("y", "x")).values
            keep = fraction >= spec.min_valid_fraction
            values, valid = values.isel(time=keep), valid.isel(time=keep)
            parameters["min_valid_fraction"] = spec.min_valid_fraction
            parameters["dates_dropped"] = int((~keep).sum())
        values = values.where(valid)
        if load:
            valid, values = valid.load(), values.load()
    usable = values.sizes["time"]
    if usable < N_DATES:
        dropped = (
            f" (dates valid on less than {spec.min_valid_fraction:.0%} of the cube are dropped)"
            if spec.defines_time_axis
            else ""
        )
        found = "no usable date: every date is cloudy or invalid" if usable == 0 else f"only {usable} usable dates"
        raise CubeError([f"{found}{dropped}; a sample needs {N_DATES}"], source)
    return PreparedModality(spec.name, prepared.bands, values, valid, parameters)


def align_to_dates(prepared: PreparedModality, dates: np.ndarray, tolerance_days: float) -> PreparedModality:
    """Resample a modality onto another's dates: nearest acquisition within the tolerance.

    Beyond the tolerance the modality is missing on that date: its values are NaN, its
    mask False and its `offset_days` NaN, so fusion can leave it out instead of using a
    far-away scene.
    """
    own = prepared.times.astype("datetime64[s]").astype(np.int64) / 86400.0
    target = np.asarray(dates).astype("datetime64[s]").astype(np.int64) / 86400.0
    after = np.clip(np.searchsorted(own, target), 0, len(own) - 1)
    before = np.clip(after - 1, 0, len(own) - 1)
    nearest = np.where(np.abs(own[before] - target) <= np.abs(own[after] - target), before, after)
    offset = own[nearest] - target
    present = np.abs(offset) <= tolerance_days
    time = xr.DataArray(np.asarray(dates), dims="time", name="time")
    values = prepared.values.isel(time=nearest).assign_coords(time=time)
    valid = prepared.valid.isel(time=nearest).assign_coords(time=time)
    keep = xr.DataArray(present, dims="time", coords={"time": time})
    parameters = {**prepared.parameters, "alignment_tolerance_days": tolerance_days}
    return PreparedModality(
        prepared.modality,
        prepared.bands,
        values.where(keep),
        valid & keep,
        parameters,
        offset_days=np.where(present, offset, np.nan),
    )
