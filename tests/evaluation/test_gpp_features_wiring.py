"""WIRING TEST of the features side of `cae evaluate gpp`, not a scientific result.

No Sentinel imagery at a flux tower ships with cae. To run the embedding path end to end,
two real towers' GPP and meteorology (BE-Vie, FR-Hes) are given coordinates that fall
inside a corner of the Romania demo cube, which `cae embed` embeds with a model trained for
a few steps. What is checked is the plumbing: footprint averaging, the band-mean and
NDVI/NIRv baselines from the embedded cube, the causal windows and both splits. The
scores mean nothing: the imagery is of another place than the GPP.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

from cae.cli.app import run
from cae.evaluation.gpp.flux import bundled_flux_dir

#: Pixel (row, column) of the corner each tower is moved onto, and the footprint radius (m).
PLACES = {"BE-Vie": (10, 10), "FR-Hes": (12, 13)}
RADIUS = 25.0


@pytest.fixture(scope="module")
def moved_towers(crop_store, tmp_path_factory):
    """A flux folder of the real BE-Vie and FR-Hes data, with the towers placed on the corner."""
    folder = tmp_path_factory.mktemp("flux")
    store = xr.open_zarr(crop_store, consolidated=False, decode_coords="all")
    to_wgs84 = Transformer.from_crs(store.rio.crs, "EPSG:4326", always_xy=True)
    rows = []
    for site, (row, col) in PLACES.items():
        longitude, latitude = to_wgs84.transform(float(store.x[col]), float(store.y[row]))
        rows.append({"site": site, "latitude": latitude, "longitude": longitude})
        shutil.copy(bundled_flux_dir() / f"{site}.csv.gz", folder / f"{site}.csv.gz")
    pd.DataFrame(rows).to_csv(folder / "sites.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def evaluation(crop_store, moved_towers, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpp") / "wiring"
    features = [option for site in PLACES for option in ("--features", f"{site}={crop_store}")]
    assert run(["evaluate", "gpp", *features, "--flux", str(moved_towers), "--out", str(out),
                "--footprint-radius", str(RADIUS), "--head", "small", "--steps", "1",
                "--device", "cpu"]) == 0
    inputs = pd.read_csv(out / "inputs.csv", parse_dates=["date"])
    return out, json.loads((out / "gpp_report.json").read_text()), inputs


def test_every_input_set_of_an_embedded_cube_is_compared(evaluation):
    _, report, _ = evaluation
    assert list(report["models"]) == ["features", "bands", "ndvi_nirv", "meteo", "features+meteo", "climatology"]
    assert report["inputs"]["features"] == [f"embedding_{i}" for i in range(7)]
    assert report["inputs"]["features+meteo"] == report["inputs"]["features"] + report["inputs"]["meteo"]
    assert report["inputs"]["bands"] == ["B02", "B03", "B04", "B08", "B8A", "B11"]
    for split in ("temporal", "leave-one-site-out"):
        assert set(report["splits"][split]["scores"]) == set(report["models"])
    for fold in report["splits"]["leave-one-site-out"]["folds"]:
        assert not set(fold["trained_on"]) & set(fold["test_sites"])


def test_features_are_the_embedding_averaged_over_the_footprint(evaluation, crop_store):
    _, _, inputs = evaluation
    store = xr.open_zarr(crop_store, consolidated=False).embedding.load()
    row, col = PLACES["BE-Vie"]
    rows, cols = np.mgrid[0 : store.sizes["y"], 0 : store.sizes["x"]]
    footprint = np.hypot((rows - row) * 10.0, (cols - col) * 10.0) <= RADIUS  # 10 m pixels
    assert footprint.sum() == 21
    features = inputs[(inputs["site"] == "BE-Vie") & (inputs["input_set"] == "features")]
    checked = 0
    for date in store.time.values:
        pixels = store.sel(time=date).values[:, footprint]  # (7, 21)
        valid = np.isfinite(pixels).all(0)
        written = features[(features["date"] == pd.Timestamp(date))].set_index("input")["value"]
        if valid.sum() >= 0.5 * footprint.sum():
            expected = pixels[:, valid].mean(1)
            np.testing.assert_allclose(written[[f"embedding_{i}" for i in range(7)]], expected, rtol=1e-5)
            checked += 1
        else:
            assert written.isna().all()
    assert checked > 50


def test_ndvi_and_nirv_come_from_the_footprint_band_means(evaluation):
    _, _, inputs = evaluation
    site = inputs[inputs["site"] == "FR-Hes"].pivot_table(index="date", columns="input", values="value")
    observed = site.dropna(subset=["B04", "B08"])
    ndvi = (observed["B08"] - observed["B04"]) / (observed["B08"] + observed["B04"])
    np.testing.assert_allclose(observed["NDVI"], ndvi, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(observed["NIRv"], ndvi * observed["B08"], rtol=1e-4, atol=1e-5)
    assert 0.3 < observed["NDVI"].median() < 1  # a forest in summer and winter


def test_every_target_day_has_a_recent_embedding_date_before_it(evaluation):
    out, _, inputs = evaluation
    predictions = pd.read_csv(out / "predictions.csv", parse_dates=["date"])
    for site, rows in predictions.groupby("site"):
        embedded = inputs[(inputs["site"] == site) & (inputs["input_set"] == "features")].dropna()["date"].unique()
        embedded = np.sort(embedded)
        for day in rows["date"]:
            before = embedded[embedded <= np.datetime64(day)]
            assert len(before) and (np.datetime64(day) - before[-1]) <= np.timedelta64(60, "D")
            assert before[0] <= np.datetime64(day) - np.timedelta64(89, "D")
