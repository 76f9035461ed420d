"""GPP evaluation on the bundled real data: real GPP and real ERA-Interim meteorology.

The heads train for one epoch on a few sites, so the scores say nothing about the method;
what is checked is what the evaluation promises: which days are targets, that held-out
sites and years are never trained on, and that the reported scores are the scores of the
written predictions.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cae.cli.app import run
from cae.evaluation.flux import METEO_VARIABLES, bundled_flux_dir, read_site, read_sites
from cae.evaluation.gpp import GppConfig, evaluate_gpp
from cae.evaluation.head import HEADS

SITES = ["BE-Vie", "DE-Tha", "FR-Hes"]
FAST = ["--head", "small", "--epochs", "1", "--train-stride", "30", "--device", "cpu"]
TINY_HEAD = HEADS["small"].__class__(name="tiny", d_model=16, heads=2, layers=1, feedforward=32, batch_size=64,
                                     learning_rate=1e-3, weight_decay=0.0, warmup_steps=5, epochs=1)


def test_the_bundle_holds_39_real_sites_with_gpp_and_meteorology():
    sites = read_sites(bundled_flux_dir())
    assert len(sites) == 39 and {"CZ-Lnz", "DE-HoH", "FR-Hes", "BE-Bra", "IT-Lav", "IT-Ren"} <= set(sites.index)
    hesse = read_site(bundled_flux_dir(), "FR-Hes")
    assert hesse.days.index[0] == pd.Timestamp("2015-01-01") and hesse.days.index[-1] == pd.Timestamp("2020-12-31")
    assert set(METEO_VARIABLES) <= set(hesse.days.columns)
    assert 0 < hesse.gpp.max() < 30  # g C m-2 d-1, not kg
    assert hesse.gpp.notna().sum() > 2000


@pytest.fixture(scope="module")
def loso(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpp") / "loso"
    sites = [option for site in SITES for option in ("--site", site)]
    assert run(["evaluate", "gpp", "--out", str(out), "--split", "leave-one-site-out", *sites, *FAST]) == 0
    report = json.loads((out / "gpp_report.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv", parse_dates=["date"])
    return out, report, predictions


def test_leave_one_site_out_never_trains_on_the_held_out_site(loso):
    _, report, _ = loso
    folds = report["splits"]["leave-one-site-out"]["folds"]
    assert sorted(fold["test_sites"][0] for fold in folds) == SITES
    for fold in folds:
        (held_out,) = fold["test_sites"]
        assert fold["trained_on"] == sorted(set(SITES) - {held_out})


def test_targets_are_observed_days_with_a_complete_window_of_past_meteorology(loso):
    _, _, predictions = loso
    for site, rows in predictions.groupby("site"):
        days = read_site(bundled_flux_dir(), site).days
        np.testing.assert_allclose(rows["observed"], days.loc[rows["date"], "GPP"])
        meteo = days[list(METEO_VARIABLES)].notna().all(axis=1).to_numpy()
        position = days.index.get_indexer(rows["date"])
        assert all(meteo[p - 89 : p + 1].all() and p >= 89 for p in position)
        # A day with GPP and 90 days of meteorology behind it is a target: none is left out.
        complete = np.convolve(meteo, np.ones(90), "full")[: len(meteo)] == 90
        expected = days.index[complete & days["GPP"].notna().to_numpy()]
        assert list(rows["date"]) == list(expected)


def test_reported_scores_are_the_scores_of_the_written_predictions(loso):
    _, report, predictions = loso
    scores = report["splits"]["leave-one-site-out"]["scores"]
    assert list(scores) == ["meteo", "climatology"]
    for model in ("meteo", "climatology"):
        for site, rows in [*predictions.groupby("site"), ("overall", predictions)]:
            error = rows[model].to_numpy() - rows["observed"].to_numpy()
            observed = rows["observed"].to_numpy()
            written = scores[model][site]
            assert written["rmse"] == pytest.approx(math.sqrt(np.mean(error**2)), rel=1e-4)
            assert written["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-4)
            assert written["bias"] == pytest.approx(np.mean(error), rel=1e-4, abs=1e-5)
            assert written["nse"] == pytest.approx(1 - np.sum(error**2) / np.sum((observed - observed.mean()) ** 2), rel=1e-4)
            assert written["r2"] == pytest.approx(np.corrcoef(observed, rows[model])[0, 1] ** 2, rel=1e-4)
            assert written["n"] == len(rows)


def test_the_climatology_of_a_held_out_site_comes_from_the_other_sites_only(loso):
    _, _, predictions = loso
    held_out = "DE-Tha"
    others = predictions[predictions["site"] != held_out]  # their target days: the fold's training days
    day_of_year = others["date"].dt.day_of_year.to_numpy()
    for _, row in predictions[predictions["site"] == held_out].iloc[::97].iterrows():
        distance = np.abs(day_of_year - row["date"].day_of_year)
        near = np.minimum(distance, 366 - distance) <= 15
        assert row["climatology"] == pytest.approx(others["observed"][near].mean(), abs=1e-5)


def test_the_outputs_are_complete(loso):
    out, report, _ = loso
    for name in ("series_leave-one-site-out.png", "scatter_leave-one-site-out.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 10_000
    assert report["units"] == "g C m-2 d-1" and report["config"]["head"]["epochs"] == 1
    text = (out / "gpp_report.md").read_text()
    assert "## leave-one-site-out" in text and all(f"| {site} |" in text for site in SITES)


def test_temporal_split_trains_on_2017_to_2019_and_tests_2020():
    result = evaluate_gpp(bundled_flux_dir(), {}, GppConfig(splits=("temporal",), head=TINY_HEAD, train_stride=20,
                                                            device="cpu"), sites=["BE-Vie", "CZ-Lnz"])
    (fold,) = result.splits["temporal"]["folds"]
    assert fold["train_period"][0] >= "2017-01-01" and fold["train_period"][1] <= "2019-12-31"
    assert fold["trained_on"] == ["BE-Vie", "CZ-Lnz"]
    # CZ-Lnz's 2020 meteorology is missing in the source: only BE-Vie has test days.
    assert fold["test_sites"] == ["BE-Vie"]
    assert (result.predictions["date"].dt.year == 2020).all()


def _table(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "arguments, message",
    [
        (lambda tmp: ["--features", str(_table(tmp / "t.csv", {"site": ["BE-Vie"], "when": ["2019-01-01"], "f": [1.0]}))],
         "no `date` column"),
        (lambda tmp: ["--features", str(_table(tmp / "t.csv", {"site": ["BE-Vie"] * 3, "f": [1.0, 2.0, 3.0],
                                                                 "date": ["2010-01-01", "2010-02-01", "2010-03-01"]}))],
         "site BE-Vie: no day has observed GPP"),
        (lambda tmp: ["--features", str(tmp)], "no feature table"),
        (lambda tmp: ["--features", str(tmp / "store.zarr")], "say which tower the store lies around"),
        (lambda tmp: ["--flux", str(tmp)], "sites.csv is missing"),
        (lambda tmp: ["--site", "CZ-Lnz", "--site", "DE-HoH", "--split", "temporal"], "needs targets in 2017-2019 and in 2020"),
        (lambda tmp: ["--site", "XX-Nope"], "is not in"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    assert run(["evaluate", "gpp", "--out", str(out), *arguments(tmp_path), *FAST]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
