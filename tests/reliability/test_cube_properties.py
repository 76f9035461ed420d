"""Property tests: whatever shape, dtype, NaN pattern or date order a cube has, validation and
preprocessing either succeed or raise the project's InputError, never anything else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cae.cube.grid import with_crs
from cae.cube.prepare import prepare_modality
from cae.errors import InputError
from cae.plugins.manager import installed_modalities

S2_BANDS = ("B02", "B03", "B04", "B08")


@st.composite
def cubes(draw: st.DrawFn) -> xr.Dataset:
    """A small S2-like cube with random size, dtype, NaN/inf pattern, band set and date order."""
    n_times = draw(st.integers(0, 14))
    height, width = draw(st.integers(0, 18)), draw(st.integers(0, 18))
    dtype = draw(st.sampled_from(["float32", "float64", "int16", "uint16"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    days = rng.integers(0, 400, n_times) if draw(st.booleans()) else np.arange(n_times) * 5
    times = pd.Timestamp("2020-01-01") + pd.to_timedelta(days, "D")
    bands = draw(st.lists(st.sampled_from(S2_BANDS), unique=True, min_size=0, max_size=4))
    data = {}
    for name in bands:
        values = rng.normal(0.1, 0.2, (n_times, height, width))
        if dtype.startswith("float"):
            values[rng.random(values.shape) < draw(st.floats(0, 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        else:
            values = np.abs(values) * 10_000
        data[name] = (("time", "y", "x"), values.astype(dtype))
    coords = {"time": times, "y": 3e6 - 10.0 * np.arange(height), "x": 4e6 + 10.0 * np.arange(width)}
    cube = xr.Dataset(data, coords=coords)
    return with_crs(cube, "EPSG:3035") if draw(st.booleans()) else cube


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cube=cubes())
def test_preparing_any_cube_succeeds_or_raises_input_error(cube: xr.Dataset) -> None:
    spec = installed_modalities().spec("s2")
    try:
        prepared = prepare_modality(cube, spec)
    except InputError as error:
        assert str(error), "an InputError must say what is wrong"
        return
    values = prepared.values.values
    assert np.all(np.isfinite(values) | np.isnan(values)), "no inf survives preprocessing"
    assert not np.any(prepared.valid.values & np.isnan(values).any(axis=1)), "a NaN pixel is never valid"
