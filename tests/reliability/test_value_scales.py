"""Values that preprocessing would turn into nonsense are refused, naming the band and what its
values look like; never clipped silently (cae.cube.values and each plugin's scale rules).

Real values: the bundled Romania S2 reflectance and the Poland S1 VH backscatter (dB), each
changed the way real exports get them wrong.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cae.cube.io import open_cube
from cae.cube.prepare import prepare_modality
from cae.data import demo_cube_path
from cae.errors import CubeError, DataWarning, InputError

S2_BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11")


@pytest.fixture(scope="module")
def s2() -> xr.Dataset:
    return open_cube(demo_cube_path("s2")).isel(time=slice(0, 40), y=slice(0, 24), x=slice(0, 24)).load()


@pytest.fixture(scope="module")
def s1_db() -> xr.Dataset:
    return open_cube(demo_cube_path("s1")).isel(time=slice(0, 30), y=slice(0, 24), x=slice(0, 24)).load()


def refused(cube: xr.Dataset, registry, modality: str, *fragments: str) -> str:
    with pytest.raises(CubeError) as caught:
        prepare_modality(cube, registry.spec(modality))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def digital_numbers(band: xr.DataArray, offset: float = 0.0) -> xr.DataArray:
    return (band * 10_000 + offset).round().astype("uint16").assign_attrs(band.attrs)


# --- Sentinel-2 ----------------------------------------------------------------------------


@pytest.mark.parametrize("fill", [0, np.nan], ids=["odc-stac zeros", "stackstac NaN"])
def test_digital_numbers_behind_empty_first_dates_are_refused(s2, registry, fill):
    cube = s2.assign({name: digital_numbers(s2[name]).astype("float32") for name in S2_BANDS})
    cube = cube.assign({name: cube[name].where(cube["time"] > cube["time"][9], fill) for name in S2_BANDS})
    refused(cube, registry, "s2", "B02 looks like digital numbers", "DN / 10000", "BOA_ADD_OFFSET")


def test_one_band_in_digital_numbers_among_reflectance_is_named(s2, registry):
    message = refused(s2.assign(B11=digital_numbers(s2["B11"], 1000)), registry, "s2", "B11 looks like digital numbers")
    assert "B02" not in message


def test_reflectance_in_percent_is_told_to_divide_by_100(s2, registry):
    refused(s2.assign({name: s2[name] * 100 for name in S2_BANDS}), registry, "s2", "in percent", "divide it by 100")


def test_reflectance_more_than_a_few_percent_negative_is_refused_not_clipped(s2, registry):
    refused(s2.assign(B04=s2["B04"] - 0.1), registry, "s2", "B04 is", "negative", "offset")


def test_a_cube_of_zeros_is_refused(s2, registry):
    refused(s2.assign({name: s2[name] * 0 for name in S2_BANDS}), registry, "s2", "holds no value but NaN or 0")


def test_reflectance_truncated_to_integers_is_refused(s2, registry):
    truncated = s2.assign({name: s2[name].round() for name in S2_BANDS})
    # Bright clouds round to 1; every other value to 0, which reads as nodata.
    refused(truncated, registry, "s2", "whole numbers only", "floating point")


def test_an_all_nan_band_is_named_not_called_cloudy(s2, registry):
    message = refused(s2.assign(B8A=s2["B8A"] * np.nan), registry, "s2", "B8A holds no value")
    assert "cloudy" not in message


def test_a_cube_without_a_cloud_mask_warns_once_and_records_it(s2, registry):
    cube = s2.drop_vars("SCL")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_modality(cube, registry.spec("s2"))
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and "no cloud mask" in messages[0]
    assert "--mask-variable" in messages[0]
    assert prepared.parameters["cloud_mask"] == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert "cloud_mask" not in prepare_modality(s2, registry.spec("s2")).parameters  # SCL: no warning
        # Earth Search's lower-case `scl` is SCL under an alias (it was: "rename its variable 'scl'").
        renamed = prepare_modality(cube.assign(scl=s2["SCL"]), registry.spec("s2")).parameters
        assert "cloud_mask" not in renamed and renamed["invalid_scene_classes"]


# --- Sentinel-1 ----------------------------------------------------------------------------


def linear(s1_db: xr.Dataset) -> xr.Dataset:
    cube = s1_db.assign(VH=10 ** (s1_db["VH"] / 10))
    cube["VH"].attrs["units"] = "linear"
    cube.attrs["units"] = "linear"
    return cube


def test_linear_values_labelled_db_are_refused(s1_db, registry):
    cube = linear(s1_db)
    cube["VH"].attrs["units"] = "dB"
    refused(cube, registry, "s1", "VH is declared dB", "looks like linear power", "units='linear'")


def test_db_values_labelled_linear_are_told_to_set_db(s1_db, registry):
    cube = s1_db.copy()
    cube["VH"].attrs["units"] = "linear"
    cube.attrs["units"] = "linear"
    refused(cube, registry, "s1", "looks like dB", "units='dB'")


def test_amplitude_digital_numbers_are_refused(s1_db, registry):
    amplitude = (np.sqrt(linear(s1_db)["VH"]) * 3000).round().astype("uint16")
    cube = linear(s1_db).assign(VH=amplitude.assign_attrs(units="linear"))
    refused(cube, registry, "s1", "amplitude digital numbers", "calibrate")


def test_slightly_negative_linear_values_become_invalid_pixels(s1_db, registry):
    cube = linear(s1_db)
    noisy = cube["VH"].copy()
    noisy[:, 0, :3] = -1e-4  # noise removal over a dark patch: 3 of 576 pixels
    prepared = prepare_modality(cube.assign(VH=noisy), registry.spec("s1"))
    assert not prepared.valid.isel(y=0, x=slice(0, 3)).any()
    assert prepared.valid.isel(y=slice(1, None)).mean() > 0.9


# --- properties ----------------------------------------------------------------------------

S2_FAULTS = {
    "digital numbers": lambda band: digital_numbers(band),
    "digital numbers with the 04.00 offset": lambda band: digital_numbers(band, 1000),
    "percent": lambda band: band * 100,
    "offset by -0.2": lambda band: band - 0.2,
    "truncated to integers": lambda band: band.round(),
}
NODATA = {
    "none": lambda cube, names: cube,
    "first dates zero": lambda cube, names: cube.assign({n: cube[n].where(cube["time"] > cube["time"][5], 0) for n in names}),
    "first dates NaN": lambda cube, names: cube.assign({n: cube[n].where(cube["time"] > cube["time"][5]) for n in names}),
    "one band empty": lambda cube, names: cube.assign({names[0]: cube[names[0]] * np.nan}),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faulty=st.lists(st.sampled_from(S2_BANDS), unique=True, max_size=6), fault=st.sampled_from(list(S2_FAULTS)),
       nodata=st.sampled_from(list(NODATA)))
def test_s2_values_are_refused_or_prepared_exactly_never_clipped_into_nonsense(s2, registry, faulty, fault, nodata):
    cube = s2.assign({name: S2_FAULTS[fault](s2[name]) for name in faulty})
    cube = NODATA[nodata](cube, [*S2_BANDS, "SCL"])  # loaders fill the scene classification too
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            prepared = prepare_modality(cube, registry.spec("s2"))
    except InputError as error:
        assert faulty or nodata == "one band empty", f"a valid cube was refused: {error}"
        return
    assert not faulty and nodata != "one band empty", "a cube with wrongly scaled values was accepted"
    reference = prepare_modality(s2, registry.spec("s2"))
    common = prepared.values.time.values
    expected = reference.values.sel(time=common).where(prepared.valid)
    np.testing.assert_array_equal(prepared.values.values, expected.values)


S1_FAULTS = {
    "dB labelled dB": lambda db: db,
    "dB labelled linear": lambda db: db.assign(VH=db["VH"].assign_attrs(units="linear")).assign_attrs(units="linear"),
    "linear labelled linear": lambda db: linear(db),
    "linear labelled dB": lambda db: linear(db).assign(VH=linear(db)["VH"].assign_attrs(units="dB")),
    "amplitude DN": lambda db: linear(db).assign(
        VH=(np.sqrt(linear(db)["VH"]) * 3000).round().astype("uint16").assign_attrs(units="linear")),
}
S1_VALID = {"dB labelled dB", "linear labelled linear"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault=st.sampled_from(list(S1_FAULTS)), nodata=st.sampled_from(["none", "first dates zero", "first dates NaN"]))
def test_s1_units_are_checked_against_the_values(s1_db, registry, fault, nodata):
    cube = NODATA[nodata](S1_FAULTS[fault](s1_db), ["VH"])
    try:
        prepared = prepare_modality(cube, registry.spec("s1"))
    except InputError as error:
        assert fault not in S1_VALID, f"valid {fault} was refused: {error}"
        return
    assert fault in S1_VALID, f"{fault} was accepted"
    assert not prepared.valid.isel(time=slice(0, 6 if nodata != "none" else 0)).any(), "a nodata fill became data"
    assert np.nanmax(prepared.values.values) <= 1 and np.nanstd(prepared.values.values) > 0.01  # not one constant
