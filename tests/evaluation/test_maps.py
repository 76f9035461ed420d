"""`cae evaluate maps`: true colour beside a PCA-RGB of the embedding."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from cae.cli.app import run
from cae.data import demo_cube_path
from cae.errors import DataWarning
from cae.evaluation.maps import PcaColours, choose_dates, spread_sample


def test_maps_of_well_covered_dates(crop_store, crop_cube, tmp_path):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(crop_cube), "--out", str(out),
                "--count", "3"]) == 0
    counts = xr.open_zarr(crop_store, consolidated=False).embedding.isel(feature=0).notnull().sum(("y", "x")).to_series()
    expected = choose_dates(counts.set_axis(pd.DatetimeIndex(counts.index)), None, 3)
    names = sorted(path.name for path in out.iterdir() if path.suffix == ".png")
    assert names == [f"map_{date.date()}.png" for date in expected]
    assert sorted(path.name for path in out.iterdir()) == [*names, "pca.json"]
    assert all(counts[date] >= 0.8 * counts.max() for date in expected)
    image = matplotlib.image.imread(out / names[0])
    assert image.shape[:2] == (540, 1000)


def test_a_date_is_mapped_on_the_nearest_store_date(crop_store, crop_cube, tmp_path):
    out = tmp_path / "one"
    times = pd.DatetimeIndex(xr.open_zarr(crop_store, consolidated=False).time.values)
    wanted = times[60] + pd.Timedelta(days=1)
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(crop_cube), "--out", str(out),
                "--date", str(wanted.date())]) == 0
    assert sorted(path.name for path in out.iterdir()) == [f"map_{times[60].date()}.png", "pca.json"]


def test_colours_mean_the_same_embedding_on_every_date_and_none_where_none():
    """Synthetic embeddings (shapes and maths only)."""
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(2, 6, 5, 7))
    frames[1, 2, 3] = frames[0, 4, 1]  # one embedding on two dates
    frames[0, 0, 0] = np.nan
    colours, embedded = PcaColours.fit(frames[np.isfinite(frames).all(-1)]).colours(frames)
    np.testing.assert_array_equal(colours[1, 2, 3], colours[0, 4, 1])
    assert np.isnan(colours[0, 0, 0]).all() and np.isfinite(colours[1]).all()
    assert ((colours[np.isfinite(colours)] >= 0) & (colours[np.isfinite(colours)] <= 1)).all()
    assert embedded.tolist() == [29 / 30, 1.0]


def test_the_pca_sample_is_spread_over_the_whole_store_and_the_same_each_time():
    """Synthetic store (shapes only): 40 dates of 30 x 30 pixels, every embedding distinct."""
    values = np.arange(7 * 40 * 30 * 30, dtype=np.float32).reshape(7, 40, 30, 30)
    embedding = xr.DataArray(values, dims=("feature", "time", "y", "x"))
    sample = spread_sample(embedding, size=500)
    assert len(sample) == 500 and np.array_equal(sample, spread_sample(embedding, size=500))
    dates = np.unique((sample[:, 0] // (30 * 30)).astype(int))
    assert dates.min() == 0 and dates.max() == 39  # from the first date to the last


def test_two_calls_for_different_dates_colour_with_one_pca(shipped_store, overpass_crop, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    base = ["evaluate", "maps", "--embeddings", str(shipped_store), "--cube", str(overpass_crop)]
    assert run([*base, "--out", str(first), "--date", "2017-04-02"]) == 0
    assert run([*base, "--out", str(second), "--date", "2017-06-21", "--date", "2017-07-01"]) == 0
    fitted = json.loads((first / "pca.json").read_text())
    assert fitted == json.loads((second / "pca.json").read_text())
    assert np.array(fitted["components"]).shape == (3, 7) and len(fitted["low"]) == len(fitted["high"]) == 3
    assert not (shipped_store / "pca.json").exists()  # nothing is written into the store


def test_a_date_without_embeddings_is_skipped_with_a_warning(shipped_store, overpass_crop, tmp_path, capsys):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(shipped_store), "--cube", str(overpass_crop), "--out", str(out),
                "--date", "2016-08-05", "--date", "2017-04-02"]) == 0
    assert "warning: skipped --date 2016-08-05: the store date nearest it (2016-08-05) has no embedded pixel" in \
        capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == ["map_2017-04-02.png", "pca.json"]
    counts = pd.Series([0, 5], index=pd.DatetimeIndex(["2020-01-01", "2020-01-11"]))
    with pytest.warns(DataWarning, match="skipped --date 2020-01-02"):
        assert choose_dates(counts, ["2020-01-02", "2020-01-10"], 4) == [pd.Timestamp("2020-01-11")]


def test_the_pca_rgb_geotiff_lies_on_the_store_grid_with_nodata_where_none(shipped_store, overpass_crop, tmp_path):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(shipped_store), "--cube", str(overpass_crop), "--out", str(out),
                "--date", "2017-04-02", "--geotiff"]) == 0
    store = xr.open_zarr(shipped_store, consolidated=False, decode_coords="all")
    embedded = store.embedding.sel(time="2017-04-02T09:30").notnull().all("feature").values
    with rasterio.open(out / "map_2017-04-02.tif") as raster:
        assert raster.crs.to_epsg() == 3035 and tuple(raster.bounds) == store.rio.bounds()
        assert raster.count == 3 and raster.dtypes[0] == "uint8" and raster.nodata == 0
        assert raster.descriptions[0] == "PCA component 1 (red)"
        rgb = raster.read()
    np.testing.assert_array_equal((rgb > 0).all(0), embedded)
    assert ((rgb == 0).all(0) | (rgb > 0).all(0)).all() and embedded.sum() == 100


def test_a_cube_on_another_grid_is_refused(crop_store, tmp_path, capsys):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(demo_cube_path("s2")),
                "--out", str(out)]) == 2
    assert "not on the same pixel grid" in capsys.readouterr().err
    assert not out.exists()
