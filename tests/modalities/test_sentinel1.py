"""Sentinel-1 preprocessing against hand-computed values on real backscatter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cae.cube.prepare import align_to_dates, prepare_modality
from cae.errors import CubeError
from cae_testing import TEST_DATA, synthetic_cube


@pytest.fixture(scope="module")
def presto_db() -> np.ndarray:
    """Real VV/VH in dB: (2313 pixels, 3 monthly steps, 2)."""
    return np.load(TEST_DATA / "presto_vv_vh_db.npy")


def _presto_cube(presto_db: np.ndarray, units: str) -> xr.Dataset:
    values = presto_db if units == "dB" else 10 ** (presto_db / 10)
    times = pd.date_range("2021-01-01", periods=3, freq="30D")
    data = {
        name: (("time", "y", "x"), values[:, :, channel].T[:, None, :], {"units": units})
        for channel, name in enumerate(("VV", "VH"))
    }
    return xr.Dataset(data, coords={"time": times, "y": [0.0], "x": np.arange(values.shape[0]) * 10.0})


def _by_hand(db_series: list[float]) -> list[float]:
    """The paper's chain for one pixel, written out scalar by scalar."""
    linear = [10 ** (value / 10) for value in db_series]
    smoothed = [
        (linear[0] + linear[1]) / 2,
        (linear[0] + linear[1] + linear[2]) / 3,
        (linear[1] + linear[2]) / 2,
    ]
    return [(min(max(10 * math.log10(value), -30.0), 5.0) + 30.0) / 35.0 for value in smoothed]


@pytest.mark.parametrize("units", ["dB", "linear"])
def test_s1_preprocessing_reproduces_hand_computed_values_on_real_presto_pixels(registry, presto_db, units):
    prepared = registry.spec("s1").preprocess(_presto_cube(presto_db, units))
    values = prepared.values.transpose("time", "band", "y", "x").values  # (3, 2, 1, N)
    assert prepared.bands == ("VV", "VH")
    for pixel in (0, 1, 500, 1111, 2312):
        for channel in range(2):
            expected = _by_hand(list(presto_db[pixel, :, channel]))
            np.testing.assert_allclose(values[:, channel, 0, pixel], expected, rtol=1e-5, atol=1e-6)


def test_s1_preprocessing_clips_to_the_db_range(registry, presto_db):
    values = registry.spec("s1").preprocess(_presto_cube(presto_db, "dB")).values.values
    assert values.min() == 0.0 and values.max() == 1.0  # the real data reaches -50 and +7 dB
    assert ((values >= 0) & (values <= 1)).all()


def test_linear_cube_with_negative_values_is_refused_with_a_hint(registry, presto_db):
    cube = _presto_cube(presto_db, "dB")
    for name in ("VV", "VH"):
        cube[name].attrs.pop("units")
    with pytest.raises(CubeError, match="units='dB'"):
        registry.spec("s1").preprocess(cube)


def test_s1_works_on_the_polarisations_a_cube_has(registry, poland_s1):
    prepared = prepare_modality(poland_s1, registry.spec("s1"))
    assert prepared.bands == ("VH",)
    assert prepared.values.sizes == {"time": 107, "band": 1, "y": 74, "x": 50}
    assert prepared.valid.all()
    assert 0 < float(prepared.values.min()) and float(prepared.values.max()) < 1


def test_alignment_uses_the_nearest_acquisition_within_tolerance_and_marks_the_rest_missing(registry):
    # SYNTHETIC S1 every 12 days from 2020-01-01, with a gap (no acquisitions in March).
    s1 = synthetic_cube({"VH": 0.02}, n_times=30, every_days=12)
    keep = ~((s1.time >= np.datetime64("2020-03-01")) & (s1.time < np.datetime64("2020-04-10")))
    s1 = s1.isel(time=keep.values)
    prepared = prepare_modality(s1, registry.spec("s1"))
    targets = np.array(["2020-01-04", "2020-01-20", "2020-03-20", "2020-05-01"], dtype="datetime64[ns]")
    aligned = align_to_dates(prepared, targets, tolerance_days=12)
    np.testing.assert_array_equal(aligned.times, targets)
    # Nearest: 01-04 -> 01-01 (-3 d); 01-20 -> 01-25 (+5 d); 03-20 -> none within 12 d; 05-01 -> 04-30.
    np.testing.assert_allclose(aligned.offset_days[[0, 1, 3]], [-3.0, 5.0, -1.0])
    assert np.isnan(aligned.offset_days[2])
    assert aligned.valid.values[[0, 1, 3]].all() and not aligned.valid.values[2].any()
    assert np.isnan(aligned.values.values[2]).all()
    np.testing.assert_array_equal(aligned.values.values[0], prepared.values.sel(time="2020-01-01").values)
