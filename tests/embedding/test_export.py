"""`cae export`: Cloud-Optimized GeoTIFFs of a store that open in a GIS where they belong."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from cae.cli.app import run
from cae.embedding import store as stores

NAMES = tuple(f"emb_{index}" for index in range(7))


def _store(path):
    return xr.open_zarr(path, consolidated=False, decode_coords="all")


def test_a_day_exports_that_date_with_its_georeference_bands_and_nodata(shipped_store, tmp_path):
    out = tmp_path / "cogs"
    # The store's times carry the overpass hour (09:30); a day given without one selects its date.
    assert run(["export", str(shipped_store), "--out", str(out), "--date", "2017-04-02"]) == 0
    assert [path.name for path in out.iterdir()] == ["embedding_2017-04-02.tif"]
    store = _store(shipped_store)
    expected = store.embedding.sel(time="2017-04-02T09:30").values
    with rasterio.open(out / "embedding_2017-04-02.tif") as raster:
        assert raster.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert raster.crs.to_epsg() == 3035
        assert tuple(raster.bounds) == store.rio.bounds() and raster.transform == store.rio.transform()
        assert raster.count == 7 and raster.descriptions == NAMES and raster.dtypes[0] == "float32"
        assert np.isnan(raster.nodata)
        values = raster.read()
        assert raster.tags()["cae_date"] == "2017-04-02T09:30:00"
    np.testing.assert_array_equal(values, expected)  # NaN where the store has none, never 0
    assert np.isnan(values).any() and np.isfinite(values).any() and not (values == 0).any()


def test_a_period_exports_each_of_its_dates_and_int8_keeps_codes_scale_and_offset(shipped_store, tmp_path):
    out = tmp_path / "cogs"
    assert run(["export", str(shipped_store), "--out", str(out), "--period", "2017-04-01/2017-06-30", "--int8"]) == 0
    store = _store(shipped_store)
    raw = xr.open_zarr(shipped_store, consolidated=False, mask_and_scale=False)
    times = pd.DatetimeIndex(store.time.values)
    chosen = times[(times >= "2017-04-01") & (times < "2017-07-01")]
    assert len(chosen) >= 2
    assert sorted(path.name for path in out.iterdir()) == [f"embedding_{time.date()}.tif" for time in chosen]
    for time in chosen:
        with rasterio.open(out / f"embedding_{time.date()}.tif") as raster:
            assert raster.dtypes[0] == "int8" and raster.nodata == stores.INT8_MISSING and raster.descriptions == NAMES
            np.testing.assert_array_equal(raster.read(), raw[stores.INT8].sel(time=time).values)
            np.testing.assert_array_equal(raster.scales, store[stores.INT8_SCALE].values.astype(float))
            np.testing.assert_array_equal(raster.offsets, store[stores.INT8_OFFSET].values.astype(float))
            # What a GIS shows (code x scale + offset, nodata masked) is the store's dequantised embedding.
            shown = raster.read(masked=True).astype(np.float64) * np.array(raster.scales)[:, None, None] \
                + np.array(raster.offsets)[:, None, None]
        np.testing.assert_allclose(shown.filled(np.nan), stores.dequantised(store).sel(time=time).values,
                                   rtol=1e-6, atol=1e-6)  # float32 arithmetic in the store


def test_a_day_the_store_lacks_is_refused_naming_the_nearest_dates(shipped_store, tmp_path, capsys):
    out = tmp_path / "cogs"
    assert run(["export", str(shipped_store), "--out", str(out), "--date", "2017-04-03"]) == 2
    assert "no date 2017-04-03; the nearest are 2017-04-02 and 2017-04-12" in capsys.readouterr().err
    assert run(["export", str(shipped_store), "--out", str(out), "--date", "2017-04-02", "--period", "2017"]) == 2
    assert "--date or --period, not both" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_output_needs_overwrite_and_int8_needs_the_copy(shipped_store, tmp_path, capsys):
    out = tmp_path / "cogs"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    assert run(["export", str(shipped_store), "--out", str(out), "--date", "2017-04-02"]) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["mine.txt"]
    assert run(["export", str(shipped_store), "--out", str(out), "--date", "2017-04-02", "--overwrite"]) == 0
    assert [path.name for path in out.iterdir()] == ["embedding_2017-04-02.tif"]
    float_only = tmp_path / "float_only.zarr"
    shutil.copytree(shipped_store, float_only, ignore=shutil.ignore_patterns(stores.INT8))
    assert run(["export", str(float_only), "--out", str(tmp_path / "other"), "--int8"]) == 2
    assert "has no int8 copy" in capsys.readouterr().err


def test_a_failed_export_leaves_nothing(shipped_store, tmp_path, monkeypatch):
    from cae.embedding import export

    written = []

    def fail_on_the_second(layer, names, time, store_path, path):
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        real(layer, names, time, store_path, path)

    real = export._write_cog
    monkeypatch.setattr(export, "_write_cog", fail_on_the_second)
    out = tmp_path / "cogs"
    assert run(["export", str(shipped_store), "--out", str(out), "--period", "2017"]) == 2
    assert written and not out.exists() and list(tmp_path.iterdir()) == []
