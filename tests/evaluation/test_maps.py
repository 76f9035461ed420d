"""`cae evaluate maps`: true colour beside a PCA-RGB of the embedding."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import xarray as xr

from cae.cli.app import run
from cae.data import demo_cube_path
from cae.evaluation.maps import choose_dates, feature_colours


def test_maps_of_well_covered_dates(crop_store, crop_cube, tmp_path):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(crop_cube), "--out", str(out),
                "--count", "3"]) == 0
    counts = xr.open_zarr(crop_store, consolidated=False).embedding.isel(feature=0).notnull().sum(("y", "x")).to_series()
    expected = choose_dates(counts.set_axis(pd.DatetimeIndex(counts.index)), None, 3)
    names = sorted(path.name for path in out.iterdir())
    assert names == [f"map_{date.date()}.png" for date in expected]
    assert all(counts[date] >= 0.8 * counts.max() for date in expected)
    image = matplotlib.image.imread(out / names[0])
    assert image.shape[:2] == (540, 1000)


def test_a_date_is_mapped_on_the_nearest_store_date(crop_store, crop_cube, tmp_path):
    out = tmp_path / "one"
    times = pd.DatetimeIndex(xr.open_zarr(crop_store, consolidated=False).time.values)
    wanted = times[60] + pd.Timedelta(days=1)
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(crop_cube), "--out", str(out),
                "--date", str(wanted.date())]) == 0
    assert [path.name for path in out.iterdir()] == [f"map_{times[60].date()}.png"]


def test_colours_mean_the_same_embedding_on_every_date_and_grey_where_none():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(2, 6, 5, 7))
    frames[1, 2, 3] = frames[0, 4, 1]  # one embedding on two dates
    frames[0, 0, 0] = np.nan
    colours, embedded = feature_colours(frames)
    np.testing.assert_array_equal(colours[1, 2, 3], colours[0, 4, 1])
    np.testing.assert_array_equal(colours[0, 0, 0], [0.85, 0.85, 0.85])
    assert ((colours >= 0) & (colours <= 1)).all()
    assert embedded.tolist() == [29 / 30, 1.0]


def test_a_cube_on_another_grid_is_refused(crop_store, tmp_path, capsys):
    out = tmp_path / "maps"
    assert run(["evaluate", "maps", "--embeddings", str(crop_store), "--cube", str(demo_cube_path("s2")),
                "--out", str(out)]) == 2
    assert "not on the same pixel grid" in capsys.readouterr().err
    assert not out.exists()
