"""Shared fixtures: the installed modalities and the bundled real cubes."""

from __future__ import annotations

import os

import pytest
import xarray as xr

from cae.cube.io import open_cube
from cae.data import demo_cube_path
from cae.plugins.manager import installed_modalities

# Wide Rich tables, so that assertions see whole names rather than wrapped pieces.
os.environ["COLUMNS"] = "250"


@pytest.fixture(scope="session")
def registry():
    return installed_modalities()


@pytest.fixture(scope="session")
def romania_s2() -> xr.Dataset:
    """The bundled real Sentinel-2 cube (Romania, 140 dates, 6 bands + SCL)."""
    return open_cube(demo_cube_path("s2")).load()


@pytest.fixture(scope="session")
def poland_s1() -> xr.Dataset:
    """The bundled real Sentinel-1 VH cube (Poland, 107 dates, dB)."""
    return open_cube(demo_cube_path("s1")).load()


#: Steps of the suite's real S2 encoder (the demo trains for 1,500; the suite has a time budget).
#: The demo's recipe at a third of its steps.
REAL_S2_STEPS = 500


@pytest.fixture(scope="session")
def real_s2_run(tmp_path_factory):
    """The tiny S2 encoder trained with the demo's recipe on the whole real Romania cube
    (shared by the training tests and the embedding-quality bar)."""
    from cae.demo import demo_training_config
    from cae.training.encoder import train_encoder

    run_dir = tmp_path_factory.mktemp("real_runs") / "s2"
    return train_encoder("s2", [demo_cube_path("s2")], run_dir, demo_training_config("s2", max_steps=REAL_S2_STEPS), progress=False)
