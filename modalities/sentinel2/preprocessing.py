"""Sentinel-2 preprocessing: surface reflectance in [0, 1] and a validity mask from SCL."""

from __future__ import annotations

import numpy as np
import xarray as xr

from cae.cube.prepare import invalid_from_mask_variable
from cae.errors import CubeError
from cae.modality import ModalitySpec, PreparedModality

#: L2A scene classes that make a pixel unusable (DESIGN 2): no data, saturated or defective,
#: cloud shadow, cloud medium and high probability, thin cirrus.
INVALID_SCENE_CLASSES = (0, 1, 3, 8, 9, 10)
SCENE_CLASSIFICATION = "SCL"


def preprocess_reflectance(cube: xr.Dataset, spec: ModalitySpec, mask_variable: str | None) -> PreparedModality:
    """Reflectance bands -> (time, band, y, x) in [0, 1], valid where the scene is clear.

    Cubes hold reflectance, not digital numbers (`cae cube build` divides by 10000); a cube
    whose values look like DNs is refused rather than silently clipped to 1 everywhere.
    Slightly negative reflectance (noise over dark surfaces, after the L2A offset) is clipped
    to 0 as DESIGN 2 says; a cube whose typical value is negative was scaled wrongly and is
    refused rather than clipped to 0 everywhere.
    """
    bands = spec.bands_in(list(cube.data_vars))
    values = xr.concat([cube[name].astype("float32") for name in bands], dim="band")
    values = values.assign_coords(band=list(bands))
    sample = values.isel(time=slice(0, 8)).values
    median = float(np.nanmedian(sample)) if np.isfinite(sample).any() else 0.0
    if median > 1.5:
        raise CubeError(
            [f"band values look like digital numbers (median {median:.0f}); "
             "reflectance is expected: divide by 10000 or build the cube with `cae cube build`"]
        )
    if median < 0:
        raise CubeError(
            [f"band values are mostly negative (median {median:.3f}); reflectance lies in [0, 1]: check the L2A "
             "scale and offset (BOA_ADD_OFFSET, -1000 DN since processing baseline 04.00) applied to the cube"]
        )
    valid = np.isfinite(values).all("band")  # NaN and inf alike: clipping would hide inf
    parameters: dict = {"bands": list(bands), "clip": [0.0, 1.0]}
    if SCENE_CLASSIFICATION in cube.data_vars:
        scene = cube[SCENE_CLASSIFICATION]
        valid = valid & scene.notnull() & ~scene.isin(INVALID_SCENE_CLASSES)
        parameters["invalid_scene_classes"] = list(INVALID_SCENE_CLASSES)
    if mask_variable is not None:
        valid = valid & ~invalid_from_mask_variable(cube, mask_variable)
        parameters["mask_variable"] = mask_variable
    return PreparedModality(spec.name, bands, values.clip(0.0, 1.0), valid, parameters)
