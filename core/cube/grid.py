"""The spatial reference of a cube: its CRS and pixel grid."""

from __future__ import annotations

import numpy as np
import xarray as xr


def crs_of(cube: xr.Dataset | xr.DataArray):
    """The cube's CRS as a pyproj CRS, or None when it has none.

    Read through rioxarray, which understands CF `crs_wkt`, GDAL `spatial_ref` and
    rioxarray's own grid-mapping coordinate.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    try:
        crs = cube.rio.crs
    except Exception:
        return None
    if crs is None:
        return None
    from pyproj import CRS

    return CRS.from_wkt(crs.to_wkt())


def north_up(cube: xr.Dataset) -> xr.Dataset:
    """The cube with y descending, north at the top, as maps, labels and GeoTIFFs expect.

    Some writers store y ascending (south up); such a cube is flipped rather than refused,
    so its maps do not come out upside down. Anything else about y (unsorted, NaN) is left
    for validation to report.
    """
    if "y" not in cube.coords or cube.sizes.get("y", 0) < 2:
        return cube
    y = np.asarray(cube["y"].values, dtype="float64")
    if np.all(np.diff(y) > 0):
        return cube.isel(y=slice(None, None, -1))
    return cube


def resolution_of(cube: xr.Dataset | xr.DataArray) -> tuple[float, float]:
    """Pixel size (x, y) in CRS units, from the coordinate spacing."""
    return float(abs(np.diff(cube["x"].values[:2])[0])), float(abs(np.diff(cube["y"].values[:2])[0]))


def same_grid(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray, tolerance: float = 1e-6) -> bool:
    """True when both lie on the same pixels: same CRS, same x and y coordinates."""
    if a.sizes["x"] != b.sizes["x"] or a.sizes["y"] != b.sizes["y"]:
        return False
    crs_a, crs_b = crs_of(a), crs_of(b)
    if crs_a is None or crs_b is None or not crs_a.equals(crs_b):
        return False
    scale = max(resolution_of(a)) or 1.0
    return bool(
        np.allclose(a["x"].values, b["x"].values, atol=tolerance * scale)
        and np.allclose(a["y"].values, b["y"].values, atol=tolerance * scale)
    )


def with_crs(cube: xr.Dataset, crs) -> xr.Dataset:
    """The cube with its CRS written as a CF grid-mapping coordinate (`spatial_ref`).

    rioxarray writes both `crs_wkt` (CF) and `spatial_ref` (GDAL), so the cube opens with
    its georeference in xarray, rioxarray and GDAL alike.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    wkt = crs if isinstance(crs, str) else crs.to_wkt()
    return cube.rio.write_crs(wkt)


def crs_label(crs) -> str:
    """'EPSG:3035' where the CRS has a code (looking through a TOWGS84-bound CRS), else its name."""
    if crs is None:
        return "no CRS"
    base = crs.source_crs if crs.is_bound and crs.source_crs is not None else crs
    epsg = base.to_epsg(min_confidence=20)
    return f"EPSG:{epsg}" if epsg else base.name
