"""90-day windows see only days up to their target day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cae.evaluation.gpp.windows import DailySeries, JoinedSeries

DAYS = pd.date_range("2019-01-01", periods=300, freq="D")


def _irregular(seed: int = 0, n: int = 40) -> pd.DataFrame:
    """Per-date observations on random dates, two inputs, some dates half missing."""
    rng = np.random.default_rng(seed)
    dates = np.sort(rng.choice(len(DAYS), n, replace=False))
    values = rng.normal(size=(n, 2))
    values[::7, 1] = np.nan  # a date with one input missing is not an observation
    return pd.DataFrame(values, index=DAYS[dates], columns=["a", "b"])


def test_a_window_is_unchanged_by_anything_after_its_target_day():
    observations = _irregular()
    series = DailySeries.of(observations, DAYS)
    targets = np.flatnonzero(series.complete(90, max_staleness_days=60))
    assert len(targets) > 100
    before = series.windows(targets, 90)
    for target_index, target in enumerate(targets):
        later = observations.index > DAYS[target]
        changed = observations.copy()
        changed.loc[later] = changed.loc[later] * -10 + 100  # rewrite the future
        if target + 1 < len(DAYS):  # and observe the very next day
            changed = pd.concat([changed, pd.DataFrame({"a": [1e6], "b": [1e6]}, index=[DAYS[target + 1]])])
        after = DailySeries.of(changed, DAYS).windows(np.array([target]), 90)
        np.testing.assert_array_equal(after[0], before[target_index])


def test_window_days_end_on_the_target_and_interpolate_only_past_observations():
    observed = pd.DataFrame({"x": [0.0, 10.0, 20.0]}, index=DAYS[[0, 10, 30]])
    series = DailySeries.of(observed, DAYS)
    window = series.windows(np.array([20]), 11)[0, :, 0]  # days 10..20
    # Day 10 is observed; days 11..20 lie before the next observation (day 30), which the
    # window of day 20 must not see: they repeat day 10's value.
    np.testing.assert_array_equal(window, np.full(11, 10.0))
    window = series.windows(np.array([30]), 21)[0, :, 0]  # days 10..30: both ends observed
    np.testing.assert_allclose(window, np.linspace(10.0, 20.0, 21))


def test_complete_needs_an_observation_at_the_start_and_a_recent_one():
    observed = pd.DataFrame({"x": [1.0, 2.0]}, index=DAYS[[5, 100]])
    complete = DailySeries.of(observed, DAYS).complete(90, max_staleness_days=20)
    assert not complete[93]  # its window starts on day 4, before the first observation
    assert not complete[94:100].any()  # starts on day 5, but day 5 is the latest observation: too stale
    assert complete[100] and complete[120] and not complete[121]
    assert DailySeries.of(observed, DAYS).complete(90, max_staleness_days=89)[94]


def test_daily_inputs_need_every_target_day_observed():
    values = pd.DataFrame({"t": np.arange(len(DAYS), dtype=float)}, index=DAYS)
    values.iloc[150:160] = np.nan
    complete = DailySeries.of(values, DAYS).complete(90, max_staleness_days=0)
    assert complete[89] and not complete[88]
    assert not complete[150:160].any() and complete[160]
    window = DailySeries.of(values, DAYS).windows(np.array([200]), 90)[0, :, 0]
    assert window[-1] == 200 and window.max() == 200  # nothing from after the target


@pytest.mark.parametrize("length", [1, 90])
def test_windows_outside_the_series_are_nan(length):
    observed = pd.DataFrame({"x": [1.0]}, index=DAYS[[50]])
    window = DailySeries.of(observed, DAYS).windows(np.array([10]), length)
    assert np.isnan(window).all()


def test_joined_series_read_each_part_on_its_own_days():
    """Daily values joined to per-date ones stay daily: each part fills its own gaps."""
    daily = DailySeries.of(pd.DataFrame({"t": np.arange(len(DAYS), dtype=float)}, index=DAYS), DAYS)
    sparse = DailySeries.of(pd.DataFrame({"x": [0.0, 10.0]}, index=DAYS[[0, 10]]), DAYS)
    joined = JoinedSeries((sparse, daily))
    assert joined.columns == ("x", "t")
    window = joined.windows(np.array([20]), 15)[0]  # days 6..20
    np.testing.assert_array_equal(window[:, 1], np.arange(6, 21))
    # Interpolated up to day 10, then day 10's value held: nothing later is observed by day 20.
    np.testing.assert_array_equal(window[:, 0], [6.0, 7.0, 8.0, 9.0] + [10.0] * 11)
