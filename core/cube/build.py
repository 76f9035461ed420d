"""`cae cube build` as a library call: the sources of one area (any layout `cae.cube.readers`
reads) -> a cube with a cloud mask, on a chosen grid."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from cae.cube.cloudmask import BANDS as CLOUD_TEST_BANDS
from cae.cube.cloudmask import CLOUD_MASK, temporal_cloud_mask
from cae.cube.coregister import DEFAULT_RESAMPLING, put_on_grid_of
from cae.cube.io import open_cube
from cae.cube.readers import ReadOptions, read_sources
from cae.errors import DataWarning, InputError
from cae.plugins.contract import ModalitySpec

#: Cloud masks `--cloud-mask` offers: `auto` is `scl` where the cube has SCL, else `temporal`.
CLOUD_MASK_CHOICES = ("auto", "scl", "temporal", "none")
SCENE_CLASSIFICATION = "SCL"


def build_cube(
    inputs: Sequence[str | os.PathLike],
    spec: ModalitySpec,
    options: ReadOptions = ReadOptions(),
    *,
    like: str | os.PathLike | None = None,
    resampling: str = DEFAULT_RESAMPLING,
    cloud_mask: str = "auto",
) -> xr.Dataset:
    """The sources as a cube of `spec` (read as their layout asks, `read_sources`), masked and on the grid `like`.

    The cloud mask is made on the cube's own grid, before any resampling, and travels as a
    categorical variable (nearest neighbour).
    """
    if cloud_mask not in CLOUD_MASK_CHOICES:
        raise InputError(f"--cloud-mask {cloud_mask!r} is not one of {', '.join(CLOUD_MASK_CHOICES)}")
    cube = read_sources([Path(path) for path in inputs], spec, options)
    cube = with_cloud_mask(cube, cloud_mask)
    if like is not None:
        cube = put_on_grid_of(cube.load(), open_cube(like), resampling=resampling, reference_name=str(like))
    return cube


def with_cloud_mask(cube: xr.Dataset, choice: str) -> xr.Dataset:
    """The cube with the cloud mask `choice` asks for (see `CLOUD_MASK_CHOICES`).

    Only cubes of the bands the temporal test reads (S2's B02 B03 B04 B08) take a cloud mask;
    others (radar), and cubes that have one (SCL or an earlier `cloud_mask`), pass unchanged
    under `auto`.
    """
    optical = all(name in cube.data_vars for name in CLOUD_TEST_BANDS)
    has_scene_classes = SCENE_CLASSIFICATION in cube.data_vars
    already_masked = has_scene_classes or CLOUD_MASK in cube.data_vars
    if choice == "none" or (choice == "auto" and (already_masked or not optical)):
        return cube
    if choice == "scl":
        if not has_scene_classes:
            raise InputError(
                f"--cloud-mask scl: the cube has no {SCENE_CLASSIFICATION} variable (variables: "
                f"{', '.join(sorted(map(str, cube.data_vars)))}); use --cloud-mask temporal, or none"
            )
        return cube
    if not optical:
        raise InputError(
            f"--cloud-mask temporal needs the bands {', '.join(CLOUD_TEST_BANDS)}; the cube holds "
            f"{', '.join(map(str, cube.data_vars))}"
        )
    if choice == "auto":
        warnings.warn(
            f"the cube has no cloud mask ({SCENE_CLASSIFICATION}); clouds and shadows are flagged by the temporal "
            f"outlier test instead (variable {CLOUD_MASK}, recorded as cloud_mask: temporal; see docs/data.md). "
            "Pass --cloud-mask none to keep every pixel",
            DataWarning,
            stacklevel=2,
        )
    return cube.assign({CLOUD_MASK: temporal_cloud_mask(cube.load())})
