"""The store describes itself (geoemb: attributes) and has a STAC item beside it.

The item is validated by pystac against the STAC core schemas it ships, with the network
closed: the projection and embeddings extension schemas live only online, so they are not
validated here (their fields are checked against the store instead).
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

from cae.data import demo_model_path
from cae.embedding import store as stores
from cae.embedding.describe import GEOEMB_CONVENTION, STAC_EMBEDDINGS_EXTENSION, stac_item_path


def test_the_store_attributes_follow_the_geoemb_convention(shipped_store, overpass_crop):
    attributes = xr.open_zarr(shipped_store, consolidated=False).attrs
    assert attributes["zarr_conventions"] == [GEOEMB_CONVENTION]
    assert attributes["geoemb:type"] == "pixel" and attributes["geoemb:dimensions"] == 7
    assert attributes["geoemb:data_type"] == "float32" and attributes["geoemb:gsd"] == 10.0
    assert attributes["geoemb:model"] == (demo_model_path() / "fusion").resolve().as_uri()
    assert attributes["geoemb:source_data"] == [overpass_crop.resolve().as_uri()]
    assert attributes["geoemb:quantization"] == {
        "method": "linear", "original_dtype": "float32", "quantized_dtype": "int8",
        "scale": {"type": "array", "array_name": stores.INT8_SCALE, "offset_array_name": stores.INT8_OFFSET,
                  "per": "feature"},
        "quantized_array": stores.INT8, "quantized_nodata": stores.INT8_MISSING,
    }
    # Adding the int8 copy once replaced every attribute of the store; provenance stays.
    assert attributes["models"]["encoders"]["s2"]["weights_sha256"] and attributes["title"] == "cae embedding"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the tests run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_the_stac_item_validates_offline_and_matches_the_store(shipped_store, overpass_crop, no_network):
    import pystac
    from pystac.validation import validate_dict

    path = stac_item_path(shipped_store)
    assert path == shipped_store.parent / "embedding.stac.json"
    document = json.loads(path.read_text())
    validate_dict(document, extensions=[])  # the core Item schema, from pystac's own copy
    item = pystac.Item.from_dict(document)
    store = xr.open_zarr(shipped_store, consolidated=False, decode_coords="all")
    times = pd.DatetimeIndex(store.time.values)
    assert item.properties["start_datetime"] == "2016-08-05T09:30:00Z" == times[0].isoformat() + "Z"
    assert item.properties["end_datetime"] == "2017-08-30T09:30:00Z" == times[-1].isoformat() + "Z"
    assert item.datetime is None
    assert item.properties["proj:code"] == "EPSG:3035"
    assert item.properties["proj:shape"] == [24, 24]
    assert item.properties["proj:transform"] == list(store.rio.transform())[:6]
    assert item.properties["proj:bbox"] == list(store.rio.bounds())
    # The WGS 84 bbox holds every corner of the store's footprint, and no more than it needs.
    left, bottom, right, top = store.rio.bounds()
    lon, lat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True).transform(
        [left, right, right, left], [bottom, bottom, top, top])
    np.testing.assert_allclose(item.bbox, [min(lon), min(lat), max(lon), max(lat)], atol=1e-6)
    assert STAC_EMBEDDINGS_EXTENSION in item.stac_extensions
    assert item.properties["emb:dimensions"] == 7 and item.properties["data_type"] == "float32"
    quantization = item.properties["emb:quantization"]
    np.testing.assert_array_equal(quantization["scale"], store[stores.INT8_SCALE].values.astype(float))
    np.testing.assert_array_equal(quantization["offset"], store[stores.INT8_OFFSET].values.astype(float))
    assert (path.parent / item.assets["embeddings"].href).resolve() == shipped_store.resolve()
    [source] = [link.href for link in item.links if link.rel == "emb:source-data"]
    assert (path.parent / source).resolve() == overpass_crop.resolve()
    [model] = [link.href for link in item.links if link.rel == "emb:model"]
    assert model == str((demo_model_path() / "fusion").resolve())
