"""The spectral-indices plugin: registered through its entry point, right bands, right values."""

import numpy as np
import pytest
import xarray as xr

from cae.cube.io import open_cube
from cae.cube.stack import modality_of
from cae.errors import CubeError
from cae.plugins.manager import installed_modalities
from cae_spectral_indices import SPEC
from cae_spectral_indices.indices import RANGES, bands_needed, computable, compute


@pytest.fixture(scope="module")
def romania():
    """The real S2 cube bundled with cae (B02 B03 B04 B08 B8A B11 and SCL; no B12)."""
    return open_cube(SPEC.sample_cube()).load()


def test_the_modality_is_registered_through_the_entry_point():
    installed = installed_modalities().get("indices")
    assert installed.package == "cae-spectral-indices"
    assert installed.spec is SPEC and SPEC.problems() == []


def test_the_declared_bands_are_those_the_catalogue_needs():
    assert set(SPEC.band_names) == {band for index in RANGES for band in bands_needed(index)}
    # NDVI, kNDVI and NIRv need no other band, so every accepted cube yields at least those.
    assert set(SPEC.required_bands) == set(bands_needed("NDVI")) == set(bands_needed("NIRv"))


def test_catalogue_symbols_map_to_the_right_sentinel2_bands():
    blue, green, red, nir, swir1 = 0.04, 0.08, 0.05, 0.40, 0.20
    bands = {name: xr.DataArray(np.float32(value)) for name, value in
             {"B02": blue, "B03": green, "B04": red, "B08": nir, "B11": swir1}.items()}
    ndvi = (nir - red) / (nir + red)
    expected = {
        "NDVI": ndvi,
        "kNDVI": np.tanh(ndvi**2),  # the RBF kernel with sigma = (N + R) / 2
        "NIRv": ndvi * nir,
        "NDWI": (green - nir) / (green + nir),
        "EVI": 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1),
        "NDMI": (nir - swir1) / (nir + swir1),
    }
    for index, value in expected.items():
        assert float(compute(index, bands)) == pytest.approx(value, rel=1e-5), index


def test_only_indices_whose_bands_the_cube_has_are_computed(romania):
    prepared = SPEC.preprocess(romania)
    assert prepared.bands == ("NDVI", "kNDVI", "NIRv", "NDWI", "EVI", "NDMI")  # NBR needs B12
    assert "NBR" in computable(("B04", "B08", "B12"))
    assert computable(("B04", "B08")) == ("NDVI", "kNDVI", "NIRv")


def test_indices_lie_in_the_unit_range_and_clouds_are_invalid(romania):
    prepared = SPEC.preprocess(romania)
    values = prepared.values.transpose("time", "band", "y", "x").values
    valid = prepared.valid.values
    inside = values[np.broadcast_to(valid[:, None], values.shape)]
    assert np.isfinite(inside).all() and inside.min() >= 0 and inside.max() <= 1
    scene = romania["SCL"].values
    assert not valid[np.isin(scene, (3, 8, 9, 10))].any()  # shadows, clouds, cirrus
    assert valid[scene == 4].mean() > 0.99  # vegetation
    ndvi = values[:, 0][valid]  # mapped from [-1, 1]
    assert 0.75 < np.median(ndvi) < 1.0  # a forest: NDVI above 0.5


def test_a_vanishing_evi_denominator_makes_the_pixel_invalid_not_saturated():
    # N + 6 R - 7.5 B + 1 = 0.5 + 1.5 - 3 + 1 = 0 (exactly, in float32)
    bands = {name: xr.DataArray(np.full((1, 15, 15), value, np.float32), dims=("time", "y", "x"))
             for name, value in {"B02": 0.4, "B03": 0.1, "B04": 0.25, "B08": 0.5}.items()}
    cube = xr.Dataset(bands, coords={"time": [np.datetime64("2020-06-01")], "y": np.arange(15), "x": np.arange(15)})
    prepared = SPEC.preprocess(cube)
    evi = prepared.values.sel(band="EVI").values
    assert not np.isfinite(evi).any() and not prepared.valid.values.any()


def test_a_cube_of_digital_numbers_is_refused_as_for_s2(romania):
    digital_numbers = romania.assign({band: romania[band] * 10000 for band in ("B02", "B03", "B04", "B08", "B8A", "B11")})
    with pytest.raises(CubeError, match="digital numbers"):
        SPEC.preprocess(digital_numbers)


def test_an_s2_cube_without_a_modality_attribute_is_still_s2(romania):
    unlabelled = romania.copy()
    unlabelled.attrs = {}
    assert modality_of(unlabelled, installed_modalities(), "cube") == "s2"


def test_the_modality_meets_the_cae_contract(tmp_path):
    """cae's own contract checks, run from the plugin's suite (no checkout of cae needed)."""
    from cae.testing import check_modality

    check_modality("indices", tmp_path)
