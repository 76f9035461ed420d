"""Shared fixtures: the installed modalities, the bundled real cubes, synthetic cubes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cae.cube.grid import with_crs
from cae.cube.io import open_cube
from cae.data import demo_cube_path
from cae.plugins import installed_modalities

# Wide Rich tables, so that assertions see whole names rather than wrapped pieces.
os.environ["COLUMNS"] = "250"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"

requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.exists(), reason="the raw real data in ../shared/data is not present"
)


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


def synthetic_cube(
    bands: dict[str, float],
    n_times: int = 24,
    height: int = 20,
    width: int = 20,
    *,
    start: str = "2020-01-01",
    every_days: int = 5,
    epsg: int | None = 3035,
    seed: int = 0,
    attrs: dict | None = None,
) -> xr.Dataset:
    """A SYNTHETIC cube (random values around each band's level) for shape and logic tests."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n_times, freq=f"{every_days}D")
    x = 4_000_000 + 10.0 * np.arange(width) + 5
    y = 3_000_000 - 10.0 * np.arange(height) - 5
    data = {
        name: (("time", "y", "x"), (level * (1 + 0.1 * rng.standard_normal((n_times, height, width)))).astype("float32"))
        for name, level in bands.items()
    }
    cube = xr.Dataset(data, coords={"time": times, "y": y, "x": x}, attrs={"synthetic": "yes", **(attrs or {})})
    return with_crs(cube, f"EPSG:{epsg}") if epsg else cube


S2_LEVELS = {"B02": 0.05, "B03": 0.08, "B04": 0.06, "B08": 0.3}
