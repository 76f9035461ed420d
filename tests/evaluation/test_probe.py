"""The downstream probes: block cross-validation, label alignment, scores, and the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cae.cli.app import run
from cae.data import demo_label_path
from cae.errors import InputError
from cae.evaluation.probe import (
    ProbeOptions,
    assign_folds,
    cross_validated,
    on_label_grid,
    parse_period,
    probe_scores,
    read_label,
    run_probe,
    spatial_blocks,
    task_of,
)
from cae.evaluation.temporal_probe import run_temporal_probe


def test_folds_keep_every_block_whole_and_use_every_fold():
    blocks = np.random.default_rng(0).integers(0, 25, 5000)
    folds = assign_folds(blocks, 5, seed=1)
    for block in np.unique(blocks):
        assert len(np.unique(folds[blocks == block])) == 1
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]
    blocks_per_fold = [len(np.unique(blocks[folds == fold])) for fold in range(5)]
    assert blocks_per_fold == [5, 5, 5, 5, 5]


def test_no_model_is_fitted_on_a_block_it_predicts():
    """Each fold's model sees the training rows only, and no block lies on both sides."""
    rng = np.random.default_rng(2)
    blocks = rng.integers(0, 12, 600)
    folds = assign_folds(blocks, 4, seed=3)
    features, observed = rng.standard_normal((600, 3)), rng.standard_normal(600)
    fitted_on, predicted_for = [], []

    class Recorder:
        def fit(self, x, y):
            fitted_on.append({tuple(row) for row in x})
            return self

        def predict(self, x):
            predicted_for.append({tuple(row) for row in x})
            return np.zeros(len(x))

    cross_validated(features, observed, folds, Recorder)
    rows_of_block = {block: {tuple(row) for row in features[blocks == block]} for block in np.unique(blocks)}
    assert len(fitted_on) == 4
    for train, test in zip(fitted_on, predicted_for):
        assert not train & test
        for rows in rows_of_block.values():
            assert not (rows & train and rows & test)
    assert set().union(*predicted_for) == {tuple(row) for row in features}


def test_too_few_blocks_for_the_folds_is_refused():
    with pytest.raises(InputError, match="smaller --block-size"):
        assign_folds(np.array([0, 0, 1, 1]), 5, seed=0)


def test_blocks_are_squares_of_the_given_metres():
    x = np.array([0.0, 150.0, 199.0, 200.0, 450.0])
    y = np.array([1000.0, 1000.0, 1000.0, 1000.0, 700.0])
    blocks = spatial_blocks(x, y, "EPSG:3035", "EPSG:3035", 200.0)
    assert blocks[0] == blocks[1] == blocks[2]
    assert len({blocks[2], blocks[3], blocks[4]}) == 3


def _grid(values: np.ndarray, x0: float, y0: float, step: float, crs: str) -> xr.DataArray:
    height, width = values.shape[-2:]
    x = x0 + step * (np.arange(width) + 0.5)
    y = y0 - step * (np.arange(height) + 0.5)
    dims = ("feature", "y", "x") if values.ndim == 3 else ("y", "x")
    return xr.DataArray(values, dims=dims, coords={"y": y, "x": x}).rio.write_crs(crs)


def test_label_on_a_coarser_grid_gets_the_mean_of_the_pixels_it_covers():
    values = np.arange(40 * 40, dtype=float).reshape(1, 40, 40)
    features = _grid(values, 4_000_000.0, 3_000_000.0, 10.0, "EPSG:3035")
    label = _grid(np.zeros((20, 20)), 4_000_000.0, 3_000_000.0, 20.0, "EPSG:3035")
    averaged, coverage = on_label_grid(features, label)
    expected = values[0].reshape(20, 2, 20, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(averaged[0], expected)
    np.testing.assert_allclose(coverage, 1.0)


def test_label_in_another_crs_and_resolution_lands_on_the_right_pixels():
    """Features that are the x and y coordinates (EPSG:3035) themselves: averaged onto a
    30 m UTM label grid, each label pixel must read back its own centre's coordinates."""
    from pyproj import Transformer

    step, size = 10.0, 120
    x0, y0 = 5_272_000.0, 2_533_000.0
    xs = x0 + step * (np.arange(size) + 0.5)
    ys = y0 - step * (np.arange(size) + 0.5)
    features = _grid(np.stack(np.meshgrid(xs, ys)), x0, y0, step, "EPSG:3035")
    to_utm = Transformer.from_crs("EPSG:3035", "EPSG:32634", always_xy=True)
    centre_x, centre_y = to_utm.transform(x0 + 600, y0 - 600)
    label = _grid(np.zeros((20, 20)), round(centre_x) - 300, round(centre_y) + 300, 30.0, "EPSG:32634")
    averaged, coverage = on_label_grid(features, label)
    back = Transformer.from_crs("EPSG:32634", "EPSG:3035", always_xy=True)
    label_x, label_y = np.meshgrid(label.x.values, label.y.values)
    expected_x, expected_y = back.transform(label_x, label_y)
    inside = coverage > 0.999
    assert inside.sum() > 300
    # Average over the 10 m pixels a 30 m pixel covers: within a few metres of its centre.
    assert np.abs(averaged[0][inside] - expected_x[inside]).max() < 5.0
    assert np.abs(averaged[1][inside] - expected_y[inside]).max() < 5.0


def test_scores_match_hand_values():
    observed, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    scores = probe_scores(observed, predicted, "regression")
    # SSE 0.25 + 0 + 1 + 1 = 2.25; SST 5; R2 1 - 2.25 / 5 = 0.55; MAE 2.5 / 4; RMSE sqrt(2.25 / 4).
    assert scores["r2"] == pytest.approx(0.55)
    assert scores["mae"] == pytest.approx(0.625)
    assert scores["rmse"] == pytest.approx(0.75)
    classes = probe_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), "classification")
    assert classes["accuracy"] == pytest.approx(0.75)
    # F1 of class 0: precision 1, recall 0.5 -> 2/3; class 1: precision 2/3, recall 1 -> 0.8.
    assert classes["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_task_follows_the_label():
    assert task_of(np.arange(101.0), "auto") == "regression"
    assert task_of(np.array([1.0, 2.0, 3.0, 2.0]), "auto") == "classification"
    assert task_of(np.array([0.5, 1.5]), "auto") == "regression"
    with pytest.raises(InputError):
        task_of(np.arange(3.0), "clustering")


def test_periods():
    start, end = parse_period("2018")
    assert (start, end.date()) == (pd.Timestamp("2018-01-01"), pd.Timestamp("2018-12-31").date())
    assert parse_period("2017-2019")[1].year == 2019
    assert parse_period("2018-04-01/2018-09-30")[0] == pd.Timestamp("2018-04-01")
    for bad in ("soon", "2019-2017"):
        with pytest.raises(InputError):
            parse_period(bad)


def test_the_bundled_label_is_the_tree_cover_of_the_demo_cube():
    label = read_label(demo_label_path())
    assert label.shape == (50, 50)
    assert abs(label.rio.resolution()[0]) == 20.0
    assert 0 <= np.nanmin(label.values) and np.nanmax(label.values) <= 100


def test_probe_runs_every_set_on_the_same_pixels(crop_store, crop_cube):
    result = run_probe(crop_store, demo_label_path(), None, ProbeOptions(period="2018", block_size=60, folds=3))
    assert result.task == "regression"
    names = {name for name, _ in result.scores}
    assert {"embedding mean", "embedding mean+std", "band medians", "band percentiles", "NDVI percentiles"} <= names
    assert result.feature_sizes["embedding mean"] == 7 and result.feature_sizes["band medians"] == 6
    # The crop's rows and columns 60..83 without their 7 px border of incomplete context:
    # 67..76 at 10 m, which cover the 20 m label pixels 34..37 (10 m 68..75) fully, 33 and 38
    # only in part: 4 x 4 label pixels, the same for every feature set.
    assert result.details["pixels"] == len(result.observed) == 16
    for predicted in result.predictions.values():
        assert predicted.shape == result.observed.shape and np.isfinite(predicted).all()


def test_temporal_probe_predicts_each_band_and_ndvi(crop_store):
    result = run_temporal_probe(crop_store, None, ProbeOptions(block_size=30, folds=3))
    targets = {target for target, _ in result.scores}
    assert targets == {"NDVI", "B02", "B03", "B04", "B08", "B8A", "B11"}
    assert result.details["pixel_dates"] == len(result.times) > 100


def test_probe_command_writes_its_report_and_refuses_to_write_into_its_inputs(crop_store, tmp_path, capsys):
    label = str(demo_label_path())
    inside = crop_store / "probe"
    assert run(["evaluate", "probe", "-e", str(crop_store), "--target", label, "--out", str(inside)]) == 2
    assert "inside the input" in capsys.readouterr().err
    assert not inside.exists()
    out = tmp_path / "probe"
    assert run(["evaluate", "probe", "-e", str(crop_store), "--target", label, "--out", str(out),
                "--period", "2018", "--block-size", "60", "--folds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "band medians" in printed and "Temporal fidelity" in printed
    document = json.loads((out / "probe.json").read_text())
    assert document["label"]["pixels"] == 16 and document["label"]["period"] == ["2018-01-01", "2018-12-31"]
    assert {row["target"] for row in document["temporal"]["scores"]} >= {"NDVI", "B04"}
    for figure in ("probe_scatter.png", "probe_map.png", "temporal_series.png"):
        assert (out / figure).stat().st_size > 10_000
    assert "band medians" in (out / "probe.md").read_text()


def test_an_integer_label_with_few_classes_is_classified(crop_store, tmp_path):
    """Tree cover cut into two classes at the median of the pixels the crop covers (label rows
    and columns 34..37), written as a GeoTIFF on the label's grid: logistic regression and
    boosted trees, scored by accuracy and macro F1."""
    label = read_label(demo_label_path())
    threshold = float(np.median(label.values[34:38, 34:38]))
    classes = xr.where(label.isnull(), 255, (label > threshold).astype("uint8")).astype("uint8")
    path = tmp_path / "classes.tif"
    classes.rio.write_crs(label.rio.crs).rio.write_nodata(255).rio.to_raster(path)
    result = run_probe(crop_store, path, None, ProbeOptions(period="2018", block_size=60, folds=3))
    assert result.task == "classification"
    assert {model for _, model in result.scores} == {"logistic", "boosted trees"}
    for scores in result.scores.values():
        assert 0 <= scores["accuracy"] <= 1 and 0 <= scores["f1_macro"] <= 1
    assert set(np.unique(result.observed)) == {0.0, 1.0}
