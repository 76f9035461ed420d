"""Fixtures of the reliability tests: a crop of the real Romania cube and small models over it.

The models are trained for a handful of steps: these tests are about what cae does with bad
input and faults, not about the models' quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.fusion.training import train_fusion
from cae.training.encoder import train_encoder


@pytest.fixture(scope="session")
def real_crop(tmp_path_factory) -> Path:
    """24 dates x 24 x 24 pixels of the real Romania S2 cube (zarr)."""
    path = tmp_path_factory.mktemp("cube") / "romania_crop.zarr"
    write_cube(open_cube(demo_cube_path("s2")).isel(time=slice(0, 24), y=slice(0, 24), x=slice(0, 24)), path)
    return path


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> Path:
    """A runs folder: tiny s2 and s1 encoders (real demo cubes, 10 steps) and fusion over s2."""
    root = tmp_path_factory.mktemp("runs")
    train_encoder("s2", [demo_cube_path("s2")], root / "s2", demo_training_config("s2", max_steps=10), progress=False)
    train_encoder("s1", [demo_cube_path("s1")], root / "s1", demo_training_config("s1", max_steps=10), progress=False)
    train_fusion(
        [demo_cube_path("s2")], root / "fusion", demo_training_config("s2", max_steps=5), runs=root,
        modalities=["s2"], progress=False,
    )
    return root
