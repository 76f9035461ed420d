"""Spectral indices of Sentinel-2 reflectance, computed one way everywhere in cae."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Band names of Sentinel-2's red and near-infrared reflectance.
RED_BAND, NIR_BAND = "B04", "B08"
#: Names other tools give those two bands (compared case-insensitively): cae's and the
#: Copernicus band IDs, Earth Engine's `B4`/`B8`, Earth Search's asset names `red`/`nir`.
#: Earth Search's `nir08` is B8A, another band, so names match whole, never as prefixes.
BAND_ALIASES = {
    RED_BAND: ("B04", "B4", "red"),
    NIR_BAND: ("B08", "B8", "nir"),
}


def band_columns(columns: Iterable[str], band: str) -> list[str]:
    """The columns of `columns` that name `band` (RED_BAND or NIR_BAND) under any of its aliases.

    More than one is ambiguous; the caller decides what that means for its input.
    """
    aliases = {alias.lower() for alias in BAND_ALIASES[band]}
    return [column for column in columns if str(column).lower() in aliases]


def ndvi(red, nir):
    """Normalised difference vegetation index, (nir - red) / (nir + red); NaN where both are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (nir - red) / (nir + red)


def nirv(red, nir):
    """Near-infrared reflectance of vegetation: NDVI x NIR."""
    return ndvi(red, nir) * nir
