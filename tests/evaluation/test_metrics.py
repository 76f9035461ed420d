"""GPP scores against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cae.evaluation.gpp.metrics import scores, scores_by_site


def test_scores_equal_hand_computed_values():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([2.0, 2.0, 2.0, 6.0])
    # errors 1, 0, -1, 2: squared 1, 0, 1, 4 (sum 6); observed mean 2.5, SST 5.
    result = scores(observed, predicted)
    assert result["rmse"] == pytest.approx(math.sqrt(6 / 4))
    assert result["mae"] == pytest.approx(4 / 4)
    assert result["bias"] == pytest.approx(2 / 4)
    assert result["nse"] == pytest.approx(1 - 6 / 5)
    # Pearson r: predicted deviations (-1, -1, -1, 3) against observed (-1.5, -0.5, 0.5, 1.5):
    # covariance sum 6, norms sqrt(5) and sqrt(12).
    assert result["r2"] == pytest.approx(36 / (5 * 12))
    assert result["n"] == 4


def test_r2_ignores_a_bias_that_nse_punishes():
    observed = np.array([1.0, 2.0, 3.0, 5.0])
    shifted = observed + 3
    result = scores(observed, shifted)
    assert result["r2"] == pytest.approx(1.0)
    assert result["bias"] == pytest.approx(3.0)
    assert result["nse"] == pytest.approx(1 - 9 * 4 / np.sum((observed - observed.mean()) ** 2))


def test_undefined_scores_are_nan_not_errors():
    constant = scores(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert math.isnan(constant["nse"]) and math.isnan(constant["r2"])
    flat_prediction = scores(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert flat_prediction["nse"] == pytest.approx(0.0) and math.isnan(flat_prediction["r2"])
    assert scores(np.array([]), np.array([]))["n"] == 0


def test_scores_by_site_and_overall_pool_the_rows():
    rows = pd.DataFrame({
        "site": ["A", "A", "B", "B"],
        "observed": [1.0, 3.0, 2.0, 6.0],
        "model": [2.0, 3.0, 2.0, 4.0],
    })
    result = scores_by_site(rows, "model")
    assert result["A"]["mae"] == pytest.approx(0.5)
    assert result["B"]["rmse"] == pytest.approx(math.sqrt(4 / 2))
    assert result["overall"]["mae"] == pytest.approx(3 / 4)
    assert result["overall"]["n"] == 4
