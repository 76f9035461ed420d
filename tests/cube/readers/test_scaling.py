"""Scale and offset rules: who declared what, and integers nobody scaled are refused."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cae.cube.readers.scaling import (
    Scaling,
    attribute_scaling,
    l2a_scaling,
    l2a_scaling_from_name,
    refuse_unscaled,
    user_scaling,
)
from cae.errors import InputError


def test_the_l2a_offset_starts_at_processing_baseline_04_00():
    assert l2a_scaling(2.14, "x").offset == 0.0
    assert l2a_scaling(3.99, "x").offset == 0.0
    assert l2a_scaling(4.0, "x").offset == pytest.approx(-0.1)
    assert l2a_scaling(5.11, "x").offset == pytest.approx(-0.1)
    assert l2a_scaling(5.11, "x", offset_applied=True).offset == 0.0
    assert all(l2a_scaling(b, "x").scale == 1e-4 for b in (2.14, 4.0))


def test_product_ids_give_the_baseline_and_other_names_nothing():
    assert l2a_scaling_from_name("google__S2__S2A_MSIL2A_20200122T184651_N0213_R070_T11SKA_2020.tif").offset == 0.0
    assert l2a_scaling_from_name("S2B_MSIL2A_20230601T100559_N0509_R022_T33UUP_20230601.tif").offset == pytest.approx(-0.1)
    assert l2a_scaling_from_name("S2B_MSIL1C_20230601T100559_N0509_R022_T33UUP.tif") is None  # L1C: not surface reflectance
    assert l2a_scaling_from_name("fresno_2020-01-22.tif") is None


def test_the_user_s_scale_and_the_source_s_attributes():
    assert user_scaling(None, None) is None
    assert (user_scaling(0.1, None).scale, user_scaling(0.1, None).offset) == (0.1, 0.0)
    assert (user_scaling(None, -0.1).scale, user_scaling(None, -0.1).offset) == (1.0, -0.1)
    assert attribute_scaling({"scale_factor": 1.0, "add_offset": 0.0}) is None  # rioxarray's "no scale"
    assert (attribute_scaling({"scale_factor": 1e-4}).scale, attribute_scaling({"scale_factor": 1e-4}).offset) == (1e-4, 0.0)


def test_scaling_applies_in_float64_and_returns_float32():
    data = xr.DataArray(np.array([1000, 1234, 65535], dtype="uint16"))
    scaled = Scaling(1e-4, -0.1, "test").apply(data)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.values, [0.0, 0.0234, 6.4535], atol=1e-7)


def test_integers_without_a_scale_are_refused_and_floats_are_not():
    with pytest.raises(InputError, match=r"f.tif holds integers \(int16: digital numbers\) and declares no scale; pass "
                                         r"--scale and --offset .*Sentinel-1 dB x 10: --scale 0.1 --units dB"):
        refuse_unscaled(np.dtype("int16"), Scaling(), "f.tif")
    refuse_unscaled(np.dtype("float32"), Scaling(), "f.tif")
    refuse_unscaled(np.dtype("uint16"), Scaling(1e-4, 0.0, "--scale/--offset"), "f.tif")
