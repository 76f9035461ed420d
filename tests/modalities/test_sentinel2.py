"""Sentinel-2 preprocessing: reflectance in [0, 1], clouds masked by SCL, sparse dates dropped."""

from __future__ import annotations

import numpy as np
import pytest

from cae.cube.prepare import prepare_modality
from cae.errors import CubeError
from cae.modalities.sentinel2.preprocessing import INVALID_SCENE_CLASSES
from cae_testing import S2_LEVELS, synthetic_cube


@pytest.fixture(scope="module")
def prepared_romania(registry, romania_s2):
    return prepare_modality(romania_s2, registry.spec("s2"))


def test_s2_uses_the_six_real_bands_and_records_them(prepared_romania):
    assert prepared_romania.bands == ("B02", "B03", "B04", "B08", "B8A", "B11")
    assert prepared_romania.parameters["bands"] == list(prepared_romania.bands)
    assert prepared_romania.values.sizes["band"] == 6


def test_cloud_masking_agrees_with_scl_on_the_real_cube(prepared_romania, romania_s2):
    scene = romania_s2["SCL"].sel(time=prepared_romania.times).values
    clear = ~np.isin(scene, INVALID_SCENE_CLASSES)
    np.testing.assert_array_equal(prepared_romania.valid.values, clear)
    values = prepared_romania.values.values
    assert np.isnan(values[:, 0][~clear]).all()
    assert np.isfinite(values.transpose(1, 0, 2, 3)[:, clear]).all()


def test_dates_clear_on_less_than_3_percent_are_dropped(prepared_romania, romania_s2):
    clear_fraction = (~romania_s2["SCL"].isin(INVALID_SCENE_CLASSES)).mean(("y", "x")).values
    expected = romania_s2["time"].values[clear_fraction >= 0.03]
    np.testing.assert_array_equal(prepared_romania.times, expected)
    assert len(expected) < 140 and prepared_romania.parameters["dates_dropped"] == 140 - len(expected)


def test_values_are_clipped_to_unit_range(prepared_romania):
    values = prepared_romania.values.values
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1


def test_negative_and_saturated_reflectance_are_clipped(registry):
    cube = synthetic_cube(S2_LEVELS)
    cube["B02"][0, 0, 0] = -0.05
    cube["B08"][0, 0, 1] = 1.4
    prepared = prepare_modality(cube, registry.spec("s2"))
    assert prepared.values.sel(band="B02").values[0, 0, 0] == 0.0
    assert prepared.values.sel(band="B08").values[0, 0, 1] == 1.0


def test_user_named_mask_variable_marks_pixels_invalid(registry):
    cube = synthetic_cube(S2_LEVELS)
    cloud = np.zeros((cube.sizes["time"], 20, 20), dtype="uint8")
    cloud[:, :5, :5] = 1
    cube["my_clouds"] = (("time", "y", "x"), cloud)
    prepared = prepare_modality(cube, registry.spec("s2"), mask_variable="my_clouds")
    assert not prepared.valid.values[:, :5, :5].any()
    assert prepared.valid.values[:, 5:, 5:].all()
    with pytest.raises(Exception, match="not in the cube"):
        prepare_modality(cube, registry.spec("s2"), mask_variable="absent")


def test_non_finite_values_are_invalid(registry):
    cube = synthetic_cube(S2_LEVELS)
    cube["B03"][2, 3, 4] = np.nan
    cube["B04"][5, 6, 7] = np.inf
    prepared = prepare_modality(cube, registry.spec("s2"))
    assert not prepared.valid.values[2, 3, 4] and not prepared.valid.values[5, 6, 7]
    assert np.isnan(prepared.values.values[5, :, 6, 7]).all()


def test_digital_numbers_are_refused_with_a_hint(registry):
    cube = synthetic_cube({name: level * 10000 for name, level in S2_LEVELS.items()})
    with pytest.raises(CubeError, match="digital numbers"):
        prepare_modality(cube, registry.spec("s2"))
