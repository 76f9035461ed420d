"""Coverage said up front: which pixel-dates get an embedding, counted before any work.

On a real crop (24 dates, of which the prepared stack keeps 20; 24 x 24 pixels) the counts
are exact, and the store written afterwards holds exactly the pixel-dates announced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from cae.cli.app import run
from cae.cube.stack import load_stack
from cae.data import demo_model_path
from cae.embedding.coverage import coverage

#: The crop's 20 prepared dates x 24 x 24 pixels: 5 dates at each end, then a 7-pixel border
#: on the other 10 dates (576 - 10 x 10 pixels each), then 175 cloudy centres inside.
TOTAL, END_DATES, BORDER, CLOUDY, EMBEDDED = 11_520, 5_760, 4_760, 175, 825


def test_coverage_counts_each_reason_exactly_on_a_real_crop(overpass_crop, registry):
    counted = coverage(load_stack([overpass_crop], registry).reference.valid)
    assert (counted.total, counted.end_dates, counted.border, counted.invalid, counted.embedded) == (
        TOTAL, END_DATES, BORDER, CLOUDY, EMBEDDED)
    assert END_DATES == 2 * 5 * 24 * 24 and BORDER == 10 * (24 * 24 - 10 * 10)
    assert [str(date.date()) for date in counted.first_dates] == ["2016-08-05", "2016-08-15", "2016-09-04", "2016-09-24",
                                                                  "2016-10-14"]
    assert str(counted.last_dates[-1].date()) == "2017-08-30" and len(counted.last_dates) == 5


def test_the_store_embeds_exactly_the_pixel_dates_announced(shipped_store):
    store = xr.open_zarr(shipped_store, consolidated=False)
    embedded = store.embedding.notnull().all("feature").values
    assert int(embedded.sum()) == EMBEDDED
    assert store.attrs["coverage"] == {"total": TOTAL, "embedded": EMBEDDED, "end_dates": END_DATES, "border": BORDER,
                                       "invalid": CLOUDY}
    assert not embedded[:5].any() and not embedded[-5:].any() and not embedded[:, :7].any() and not embedded[:, :, -7:].any()


def test_a_date_cloudy_everywhere_is_named(registry):
    """Synthetic mask (shapes only): 13 dates of 16 x 16 pixels, the middle date all cloud."""
    valid = np.ones((13, 16, 16), bool)
    valid[6] = False
    times = pd.date_range("2020-01-01", periods=13, freq="5D")
    counted = coverage(xr.DataArray(valid, dims=("time", "y", "x"), coords={"time": times}))
    assert [str(date.date()) for date in counted.empty_dates] == ["2020-01-31"]
    assert counted.embedded == 2 * 2 * 2 and counted.invalid == 2 * 2
    assert "dates with no embedded pixel at all: 2020-01-31" in "\n".join(counted.lines())


def test_cube_check_and_the_dry_run_print_the_same_coverage(overpass_crop, tmp_path, capsys):
    announced = ["825 (7.2%) of 11,520 pixel-dates will get an embedding",
                 "first and last 5 dates (no full context): 5,760 (50.0%): 2016-08-05",
                 "7-pixel border (no full window): 4,760 (41.3%)", "cloudy or missing centres: 175 (1.5%)"]
    assert run(["cube", "check", str(overpass_crop)]) == 0
    checked = capsys.readouterr().out
    out = tmp_path / "e.zarr"
    assert run(["embed", str(overpass_crop), "--model", str(demo_model_path() / "fusion"), "--out", str(out),
                "--dry-run", "--device", "cpu"]) == 0
    planned = capsys.readouterr().out
    for line in announced:
        assert line in checked and line in planned, line
    assert not out.exists()
