"""Spectral indices of Sentinel-2 reflectance, computed one way everywhere in cae."""

from __future__ import annotations

import numpy as np

#: Band names of Sentinel-2's red and near-infrared reflectance.
RED_BAND, NIR_BAND = "B04", "B08"


def ndvi(red, nir):
    """Normalised difference vegetation index, (nir - red) / (nir + red); NaN where both are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (nir - red) / (nir + red)


def nirv(red, nir):
    """Near-infrared reflectance of vegetation: NDVI x NIR."""
    return ndvi(red, nir) * nir
