"""Putting a cube on the grid of another (co-registration), as fusion needs one grid.

Users' S1 and S2 never share a grid (other CRS, origin, pixel size). A cube is reprojected
onto a reference cube's grid (same CRS, transform and shape) by rioxarray, i.e. GDAL's
warper; no raster code here. Continuous bands are resampled bilinearly by default, and
bands in dB are resampled as linear power (averaging dB would average logarithms);
categorical variables (integer classes such as SCL, masks) always by nearest neighbour.
Pixels of the reference grid outside the cube's footprint become NaN (no data), never 0.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from cae.cube.grid import crs_label, crs_of, resolution_of, with_crs
from cae.errors import InputError

#: rasterio resampling methods offered for continuous bands.
RESAMPLING_METHODS = ("bilinear", "nearest", "cubic", "average")
DEFAULT_RESAMPLING = "bilinear"


def is_categorical(variable: xr.DataArray) -> bool:
    """Integer or boolean values are classes or flags: they are never interpolated."""
    return variable.dtype.kind in "biu"


def put_on_grid_of(
    cube: xr.Dataset,
    reference: xr.Dataset,
    *,
    resampling: str = DEFAULT_RESAMPLING,
    reference_name: str = "reference",
) -> xr.Dataset:
    """`cube` on the grid of `reference`: its CRS, transform and shape, x/y identical.

    The method and the reference grid are recorded in the attribute `coregistration`.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from rasterio.enums import Resampling

    if resampling not in RESAMPLING_METHODS:
        raise InputError(f"resampling {resampling!r} is not one of {', '.join(RESAMPLING_METHODS)}")
    source_crs, target_crs = crs_of(cube), crs_of(reference)
    missing = [name for name, crs in (("the cube", source_crs), (reference_name, target_crs)) if crs is None]
    if missing:
        raise InputError(f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no CRS: cannot put one "
                         "on the grid of the other (write one with rioxarray's `cube.rio.write_crs(...)`)")
    # The reference grid alone, as rioxarray matches onto an array.
    target = xr.DataArray(
        np.zeros((reference.sizes["y"], reference.sizes["x"]), dtype="uint8"),
        dims=("y", "x"), coords={"y": reference["y"].values, "x": reference["x"].values},
    ).rio.write_crs(target_crs.to_wkt())
    methods: dict[str, str] = {}
    variables: dict[str, xr.DataArray] = {}
    for name, variable in cube.data_vars.items():
        if not {"y", "x"} <= set(variable.dims):
            continue
        method = "nearest" if is_categorical(variable) else resampling
        variables[str(name)], methods[str(name)] = _reproject(variable, source_crs, target, Resampling[method], method)
    result = xr.Dataset(variables, coords={"time": cube["time"]} if "time" in cube.coords else None)
    result = result.assign_coords(y=reference["y"].values, x=reference["x"].values)
    if not any(bool(np.isfinite(result[name]).any()) for name in variables if not is_categorical(cube[name])):
        raise InputError(
            f"the cube ({crs_label(source_crs)}) and {reference_name} ({crs_label(target_crs)}) do not overlap: "
            "no pixel of the cube falls on the reference grid; give cubes of one place"
        )
    result = with_crs(result, target_crs)
    transform = target.rio.transform()
    result.attrs = {
        **cube.attrs,
        "resolution_m": resolution_of(reference)[0],
        "coregistration": {
            "like": reference_name,
            "crs": crs_label(target_crs),
            "transform": [float(value) for value in tuple(transform)[:6]],
            "shape": [int(reference.sizes["y"]), int(reference.sizes["x"])],
            "source_crs": crs_label(source_crs),
            "source_resolution": list(resolution_of(cube)),
            "resampling": methods,
            "by": f"rioxarray {rioxarray.__version__} reproject_match (GDAL warp)",
        },
    }
    return result


def _reproject(variable: xr.DataArray, source_crs, target: xr.DataArray, method, label: str) -> tuple[xr.DataArray, str]:
    """One variable reprojected; dB bands interpolated as linear power; NaN outside the footprint."""
    attrs = dict(variable.attrs)
    attrs.pop("grid_mapping", None)
    in_db = str(attrs.get("units", "")).lower() == "db" and label != "nearest"
    if is_categorical(variable):
        fill = variable.encoding.get("_FillValue", 0)
        data = variable.rio.write_crs(source_crs).rio.write_nodata(fill, encoded=False)
    else:
        data = variable.astype("float32")
        if in_db:
            data = 10.0 ** (data / 10.0)
        data = data.rio.write_crs(source_crs).rio.write_nodata(np.nan, encoded=False)
    result = data.rio.reproject_match(target, resampling=method)
    if in_db:
        result = 10.0 * np.log10(result)
        label = f"{label} in linear power"
    result = result.drop_vars("spatial_ref", errors="ignore").astype(variable.dtype if is_categorical(variable) else "float32")
    result.attrs = attrs
    result.encoding = {}
    return result, label

