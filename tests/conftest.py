"""Shared fixtures: the installed modalities and the bundled real cubes."""

from __future__ import annotations

import os

import pytest
import xarray as xr

from cae.cube.io import open_cube
from cae.data import demo_cube_path
from cae.plugins import installed_modalities

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
