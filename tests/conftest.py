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


#: Steps of the suite's real S2 encoder (the demo trains for 3,000; the suite has a time budget).
#: The demo's recipe at a tenth of its steps: 300 steps scored 0.029 against 0.065 for the patch mean.
REAL_S2_STEPS = 300


@pytest.fixture(scope="session")
def real_s2_run(tmp_path_factory):
    """The tiny S2 encoder trained with the demo's recipe on the whole real Romania cube
    (shared by the training tests and the embedding-quality bar)."""
    from cae.demo import demo_training_config
    from cae.training.encoder import train_encoder

    run_dir = tmp_path_factory.mktemp("real_runs") / "s2"
    return train_encoder("s2", [demo_cube_path("s2")], run_dir, demo_training_config("s2", max_steps=REAL_S2_STEPS), progress=False)


@pytest.fixture(scope="session")
def overpass_crop(tmp_path_factory):
    """24 dates x 24 x 24 pixels of the real Romania cube, its dates given the hour of
    Sentinel-2's overpass (09:30 UTC) as cubes built from L2A products carry: a day must
    select a date by day, not by instant."""
    import pandas as pd

    from cae.cube.io import write_cube

    crop = open_cube(demo_cube_path("s2")).isel(time=slice(10, 34), y=slice(40, 64), x=slice(0, 24))
    path = tmp_path_factory.mktemp("overpass") / "romania_overpass.zarr"
    write_cube(crop.assign_coords(time=crop["time"] + pd.Timedelta(hours=9, minutes=30)), path)
    return path


@pytest.fixture(scope="session")
def shipped_store(overpass_crop):
    """`cae embed --int8` of that crop with the demo model shipped in the package (no training)."""
    from cae.data import demo_model_path
    from cae.embedding.job import EmbedOptions
    from cae.embedding.run import embed

    out, _ = embed([overpass_crop], demo_model_path() / "fusion", overpass_crop.parent / "embedding.zarr",
                   EmbedOptions(device="cpu", batch_size=256, int8=True))
    return out
