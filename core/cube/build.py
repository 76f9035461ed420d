"""`cae cube build` as a library call: raw files or a cube -> a cube with a cloud mask, on a chosen grid."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from cae.cube.cloudmask import BANDS as CLOUD_TEST_BANDS
from cae.cube.cloudmask import CLOUD_MASK, temporal_cloud_mask
from cae.cube.coregister import DEFAULT_RESAMPLING, put_on_grid_of
from cae.cube.io import is_zarr, open_cube
from cae.errors import DataWarning, InputError
from cae.modality import ModalitySpec

#: Cloud masks `--cloud-mask` offers: `auto` is `scl` where the cube has SCL, else `temporal`.
CLOUD_MASK_CHOICES = ("auto", "scl", "temporal", "none")
SCENE_CLASSIFICATION = "SCL"


def build_cube(
    inputs: Sequence[str | os.PathLike],
    spec: ModalitySpec,
    *,
    like: str | os.PathLike | None = None,
    resampling: str = DEFAULT_RESAMPLING,
    cloud_mask: str = "auto",
) -> xr.Dataset:
    """The modality's raw files (or one cube it already reads) as a cube, masked and on the grid `like`.

    The cloud mask is made on the cube's own grid, before any resampling, and travels as a
    categorical variable (nearest neighbour).
    """
    if cloud_mask not in CLOUD_MASK_CHOICES:
        raise InputError(f"--cloud-mask {cloud_mask!r} is not one of {', '.join(CLOUD_MASK_CHOICES)}")
    cube = _ready_cube(inputs, spec)
    if cube is None:
        if spec.build_cube is None:
            raise InputError(f"modality {spec.name} cannot build cubes from raw files; give a ready cube instead")
        cube = spec.build_cube([Path(path) for path in inputs])
    cube = with_cloud_mask(cube, cloud_mask)
    if like is not None:
        cube = put_on_grid_of(cube.load(), open_cube(like), resampling=resampling, reference_name=str(like))
    return cube


def _ready_cube(inputs: Sequence[str | os.PathLike], spec: ModalitySpec) -> xr.Dataset | None:
    """One zarr store holding bands of the modality is a cube already (to mask or co-register); else None."""
    if len(inputs) != 1 or not Path(inputs[0]).is_dir() or not is_zarr(Path(inputs[0])):
        return None
    cube = open_cube(inputs[0])
    return cube.load() if spec.bands_in(list(cube.data_vars)) else None


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
