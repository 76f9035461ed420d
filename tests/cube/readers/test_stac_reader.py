"""STAC item collections and catalogs on disk, through odc-stac: the Romania cube comes back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pystac
import pytest

from cae.cube.grid import crs_label, crs_of
from cae.cube.readers import ReadOptions, read_sources, reader_for
from cae.cube.readers.stac import _scaling_of
from cae.errors import InputError
from romania_layouts import EARTH_SEARCH, PLANETARY_COMPUTER, romania_crop, stac_items, write_cogs

#: One step of the L2A quantification: what writing reflectance as DN may lose.
SCALE_ROUNDING = 0.5e-4 + 1e-6


def assert_same_cube(read, original):
    """Values within the scale's rounding, NaN where the original is NaN, same dates, grid and CRS."""
    for band in original.attrs["bands"]:
        np.testing.assert_allclose(read[band].values, original[band].values, atol=SCALE_ROUNDING, equal_nan=True)
    np.testing.assert_array_equal(read["SCL"].values, original["SCL"].values)
    np.testing.assert_array_equal(read["time"].values.astype("datetime64[s]"), original["time"].values.astype("datetime64[s]"))
    np.testing.assert_allclose(read["x"].values, original["x"].values)
    np.testing.assert_allclose(read["y"].values, original["y"].values)
    assert crs_label(crs_of(read)) == crs_label(crs_of(original)) == "EPSG:3035"  # a GeoTIFF drops the zero TOWGS84


@pytest.fixture(scope="module")
def earth_search(tmp_path_factory, romania_s2):
    """An Earth Search-like saved search: baseline 05.00 (DN carry the +1000), asset keys blue..scl."""
    folder = tmp_path_factory.mktemp("earth_search")
    cube = romania_crop(romania_s2)
    cogs = write_cogs(cube, folder / "cogs", EARTH_SEARCH, "05.00")
    items = stac_items(cube, cogs, folder, "05.00", raster_offset=-0.1)
    path = folder / "search.json"
    pystac.ItemCollection(items).save_object(str(path))
    return cube, path


def test_a_saved_earth_search_result_comes_back_as_the_cube(earth_search, registry):
    original, path = earth_search
    assert reader_for([path], registry.spec("s2")) == "stac"
    read = read_sources([path], registry.spec("s2"), ReadOptions())
    assert read.attrs["bands"] == ["B02", "B03", "B04", "B08", "B8A", "B11"]
    assert_same_cube(read, original)
    assert any("processing baseline 05.00" in text for text in read.attrs["scaling"])


def test_the_same_cogs_come_back_through_the_geotiff_reader(earth_search, registry):
    original, path = earth_search
    read = read_sources([path.parent / "cogs"], registry.spec("s2"), ReadOptions())
    assert read.attrs["reader"] == "geotiff"
    assert_same_cube(read, original)


def test_a_planetary_computer_catalog_comes_back_as_the_cube(tmp_path, romania_s2, registry):
    cube = romania_crop(romania_s2, dates=12, size=32)
    cogs = write_cogs(cube, tmp_path / "cogs", PLANETARY_COMPUTER, "02.14")
    catalog = pystac.Catalog("romania", "Romania L2A, Planetary Computer asset names")
    for item in stac_items(cube, cogs, tmp_path, "02.14", raster_offset=0.0):
        for asset in item.assets.values():
            asset.href = str((tmp_path / asset.href).resolve())
        catalog.add_item(item)
    catalog.normalize_and_save(str(tmp_path / "catalog"), pystac.CatalogType.SELF_CONTAINED)
    read = read_sources([tmp_path / "catalog" / "catalog.json"], registry.spec("s2"), ReadOptions())
    assert_same_cube(read, cube)


def _item(properties: dict, raster: dict | None) -> pystac.Item:
    item = pystac.Item("x", None, None, pd.Timestamp("2022-03-01", tz="UTC").to_pydatetime(), properties)
    item.add_asset("red", pystac.Asset("red.tif", extra_fields={"raster:bands": [raster]} if raster else {}))
    return item


def test_the_processing_baseline_decides_the_offset_and_earth_search_s_flag_is_honoured():
    assert (_scaling_of(_item({"s2:processing_baseline": "02.14"}, None), "red").offset) == 0.0
    assert _scaling_of(_item({"s2:processing_baseline": "04.00"}, None), "red").offset == pytest.approx(-0.1)
    applied = _item({"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": True}, {"scale": 1e-4, "offset": -0.1})
    assert _scaling_of(applied, "red").offset == 0.0  # the DN were already shifted back; raster:bands' -0.1 is wrong there
    assert _scaling_of(applied, "red").scale == pytest.approx(1e-4)


def test_raster_extension_scales_items_without_a_baseline_and_none_means_refused(tmp_path, registry):
    scaling = _scaling_of(_item({}, {"scale": 2e-5, "offset": 0.1}), "red")
    assert (scaling.scale, scaling.offset) == (2e-5, 0.1) and scaling.known
    assert not _scaling_of(_item({}, None), "red").known


def test_integer_assets_without_any_scale_are_refused(earth_search, tmp_path, registry):
    _, path = earth_search
    document = json.loads(path.read_text())
    for feature in document["features"]:
        feature["properties"].pop("s2:processing_baseline")
        for asset in feature["assets"].values():
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16"}]
            asset["href"] = str((path.parent / asset["href"]).resolve())
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"asset blue holds integers \(uint16: digital numbers\) and declares no scale; pass --scale"):
        read_sources([bare], registry.spec("s2"), ReadOptions())


def test_json_that_is_not_stac_is_refused(tmp_path, registry):
    path = tmp_path / "other.json"
    path.write_text('{"type": "Topology"}')
    with pytest.raises(InputError, match=r"other.json is JSON but not STAC \(type 'Topology'"):
        read_sources([path], registry.spec("s2"), ReadOptions())


def test_the_tiles_of_one_pass_make_one_date(tmp_path, romania_s2, registry):
    """The crop's west and east halves as two items per date, seconds apart (two granules of one pass)."""
    cube = romania_crop(romania_s2, dates=6, size=32)
    west = cube.isel(x=slice(0, 16))
    east = cube.isel(x=slice(16, None))
    east = east.assign_coords(time=east["time"].values + np.timedelta64(3, "s"))
    items = []
    for name, half in (("west", west), ("east", east)):
        cogs = write_cogs(half, tmp_path / name, EARTH_SEARCH, "05.00")
        items += stac_items(half, cogs, tmp_path, "05.00", raster_offset=-0.1)
    pystac.ItemCollection(items).save_object(str(tmp_path / "two_tiles.json"))
    read = read_sources([tmp_path / "two_tiles.json"], registry.spec("s2"), ReadOptions())
    assert read.sizes == {"time": 6, "y": 32, "x": 32}
    np.testing.assert_allclose(read["B04"].values, cube["B04"].values, atol=SCALE_ROUNDING, equal_nan=True)
    np.testing.assert_array_equal(read["time"].values.astype("datetime64[D]"), cube["time"].values.astype("datetime64[D]"))
