"""Sentinel-2 preprocessing: surface reflectance in [0, 1] and a validity mask from SCL."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from cae.cube.cloudmask import CLEAR, CLOUD_MASK
from cae.cube.prepare import invalid_from_mask_variable
from cae.cube.values import summarise
from cae.errors import CubeError, DataWarning
from cae.plugins.contract import ModalitySpec, PreparedModality

#: L2A scene classes that make a pixel unusable (DESIGN 2): no data, saturated or defective,
#: cloud shadow, cloud medium and high probability, thin cirrus.
INVALID_SCENE_CLASSES = (0, 1, 3, 8, 9, 10)
SCENE_CLASSIFICATION = "SCL"

#: Share of a band's values that may be negative: noise over dark surfaces once the L2A
#: offset is applied. They are clipped to 0 (DESIGN 2); beyond this share the scale or
#: offset applied to the cube is wrong, and clipping would hide it.
NEGATIVE_TOLERANCE = 0.05


def scale_problems(cube: xr.Dataset, bands: tuple[str, ...]) -> list[str]:
    """Each band whose values are not reflectance in [0, 1], and what they look like instead."""
    problems = []
    for name in bands:
        values = summarise(cube[name])
        if values.count == 0:
            problems.append(f"{name} holds no value but NaN or 0 on any date; remove the band from the cube")
        elif values.median > 1.5 and values.high <= 200:
            problems.append(f"{name} looks like reflectance in percent ({values.describe()}); divide it by 100")
        elif values.median > 1.5:
            problems.append(
                f"{name} looks like digital numbers ({values.describe()}); reflectance is DN / 10000, after "
                "subtracting the offset of processing baseline 04.00 and later (BOA_ADD_OFFSET, 1000 DN, from "
                "January 2022); `cae cube build` does both"
            )
        elif values.negative_share > NEGATIVE_TOLERANCE:
            problems.append(
                f"{name} is {values.negative_share:.0%} negative ({values.describe()}); reflectance lies in [0, 1]: "
                "check the scale and offset applied to the cube (BOA_ADD_OFFSET: -1000 DN since baseline 04.00)"
            )
        elif values.whole_share > 0.99:
            problems.append(
                f"{name} holds whole numbers only ({values.describe()}): reflectance was cast to integers; scale the "
                "digital numbers to floating point instead"
            )
    return problems


def no_mask_warning() -> str:
    """What to tell a user whose cube has no cloud mask (`scl` and other aliases were renamed to SCL before)."""
    return (f"the cube has no cloud mask ({SCENE_CLASSIFICATION}), so every pixel counts as clear and clouds will be "
            f"embedded as land; add the L2A scene classification as {SCENE_CLASSIFICATION}, name a mask with "
            "--mask-variable, or flag clouds by their time series with "
            "`cae cube build --modality s2 CUBE --cloud-mask temporal --out NEW`. Recorded as cloud_mask: none")


def preprocess_reflectance(cube: xr.Dataset, spec: ModalitySpec, mask_variable: str | None) -> PreparedModality:
    """Reflectance bands -> (time, band, y, x) in [0, 1], valid where the scene is clear.

    Cubes hold reflectance, not digital numbers (`cae cube build` divides by 10000). Each
    band's values over the whole cube (`scale_problems`) must look like reflectance: digital
    numbers, percent, integers or a wrong offset are refused, naming the band and what its
    values look like, rather than clipped into nonsense. Slightly negative reflectance (noise
    over dark surfaces, after the L2A offset) is clipped to 0 as DESIGN 2 says. The cloud mask
    is SCL, the `cloud_mask` variable `cae cube build` writes (e.g. the temporal test), and a
    user's mask variable, whichever the cube has; a cube with none is used as clear, with a
    warning, and says so in its parameters.
    """
    bands = spec.bands_in(list(cube.data_vars))
    values = xr.concat([cube[name].astype("float32") for name in bands], dim="band")
    values = values.assign_coords(band=list(bands))
    problems = scale_problems(cube, bands)
    if problems:
        raise CubeError(problems)
    valid = np.isfinite(values).all("band")  # NaN and inf alike: clipping would hide inf
    parameters: dict = {"bands": list(bands), "clip": [0.0, 1.0]}
    if SCENE_CLASSIFICATION in cube.data_vars:
        scene = cube[SCENE_CLASSIFICATION]
        valid = valid & scene.notnull() & ~scene.isin(INVALID_SCENE_CLASSES)
        parameters["invalid_scene_classes"] = list(INVALID_SCENE_CLASSES)
    if CLOUD_MASK in cube.data_vars:
        valid = valid & (cube[CLOUD_MASK] == CLEAR)
        parameters["cloud_mask"] = cube[CLOUD_MASK].attrs.get("method", CLOUD_MASK)
    if mask_variable is not None:
        valid = valid & ~invalid_from_mask_variable(cube, mask_variable)
        parameters["mask_variable"] = mask_variable
    if SCENE_CLASSIFICATION not in cube.data_vars and CLOUD_MASK not in cube.data_vars and mask_variable is None:
        warnings.warn(no_mask_warning(), DataWarning, stacklevel=2)
        parameters["cloud_mask"] = "none"
    return PreparedModality(spec.name, bands, values.clip(0.0, 1.0), valid, parameters)
