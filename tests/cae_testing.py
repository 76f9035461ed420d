"""Test helpers shared across test folders: where the real data lies, synthetic cubes.

They live here rather than in conftest.py because test modules import them, and
``from conftest import ...`` picks whichever conftest.py comes first on sys.path (a sub-folder's
conftest shadows the top one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cae.cube.grid import with_crs

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"

requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.exists(), reason="the raw real data in ../shared/data is not present"
)



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
