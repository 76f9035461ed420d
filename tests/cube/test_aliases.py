"""Band aliases: every catalogue's spelling becomes the plugin's band name, once, everywhere."""

from __future__ import annotations

import pytest

from cae.cli.app import run
from cae.cube.aliases import canonical_names, with_canonical_names
from cae.cube.io import write_cube
from cae.errors import InputError


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (["blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl"],  # Earth Search
         ["B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL"]),
        (["B2", "B3", "B4", "B8", "B5", "B11"], ["B02", "B03", "B04", "B08", "B05", "B11"]),  # Earth Engine
        (["B02", "B8A", "SCL"], ["B02", "B8A", "SCL"]),  # Planetary Computer: already the plugin's names
        (["b02", "b04", "Nir"], ["B02", "B04", "B08"]),  # openEO's lower case; any case
        (["rededge1", "rededge2", "rededge3"], ["B05", "B06", "B07"]),
    ],
)
def test_s2_aliases_of_the_common_catalogues(registry, variables, expected):
    assert list(canonical_names(variables, registry.spec("s2")).values()) == expected


def test_s1_aliases_and_names_that_are_no_band_are_left_alone(registry):
    assert canonical_names(["sigma0_vh", "vv", "angle"], registry.spec("s1")) == {"sigma0_vh": "VH", "vv": "VV"}


def test_two_variables_naming_one_band_are_refused(registry):
    with pytest.raises(InputError, match="ambiguous band names for s2: B04 and red both name B04; keep one variable per band"):
        canonical_names(["B04", "red", "B02"], registry.spec("s2"))
    with pytest.raises(InputError, match="B8 and nir both name B08"):
        canonical_names(["nir", "B8"], registry.spec("s2"))


def test_a_cube_named_as_earth_search_names_it_is_checked_as_s2(tmp_path, romania_s2, registry, capsys):
    renamed = romania_s2.isel(time=slice(0, 30), y=slice(0, 32), x=slice(0, 32)).rename(
        {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B8A": "nir08", "B11": "swir16", "SCL": "scl"})
    renamed.attrs = {}  # no `modality` attribute: the bands alone say s2
    path = write_cube(renamed, tmp_path / "earth_search_names.zarr")
    assert run(["cube", "check", str(path)]) == 0
    output = capsys.readouterr()
    assert "B02 B03 B04 B08 B8A B11" in output.out
    assert "no cloud mask" not in output.err  # `scl` is the cloud mask under another name
    assert set(with_canonical_names(renamed, registry.spec("s2")).data_vars) == set(romania_s2.data_vars)


def test_a_plugin_whose_alias_names_another_band_is_refused(registry):
    from dataclasses import replace

    from cae.plugins.contract import Band

    spec = registry.spec("s2")
    clashing = replace(spec, bands=(*spec.bands[:-1], Band("B12", "reflectance", optional=True, aliases=("red",))))
    assert "'red' names B04 and B12 (names and aliases match in any case)" in clashing.problems()
    assert spec.problems() == [] and registry.spec("s1").problems() == []
