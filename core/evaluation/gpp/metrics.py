"""Scores of predicted against observed values, as the GPP evaluation reports them.

R2 and NSE differ on purpose: R2 is the squared Pearson correlation (how well a straight
line through the predictions explains the observations), NSE the Nash-Sutcliffe
efficiency 1 - SSE / SST (how well the predictions themselves do, biases included; 0 is
no better than the observed mean, and it can be negative). Bias is mean(predicted -
observed), in the observations' unit like RMSE and MAE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("rmse", "mae", "r2", "nse", "bias", "n")


def scores(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R2, NSE, bias and the number of pairs; NaN where undefined (n < 2 or
    constant observations)."""
    observed, predicted = np.asarray(observed, np.float64), np.asarray(predicted, np.float64)
    error = predicted - observed
    n = len(observed)
    result = {
        "rmse": float(np.sqrt(np.mean(error**2))) if n else np.nan,
        "mae": float(np.mean(np.abs(error))) if n else np.nan,
        "r2": np.nan,
        "nse": np.nan,
        "bias": float(np.mean(error)) if n else np.nan,
        "n": n,
    }
    spread = np.sum((observed - observed.mean()) ** 2) if n else 0.0
    if n >= 2 and spread > 0:
        result["nse"] = float(1 - np.sum(error**2) / spread)
        if np.std(predicted) > 0:
            result["r2"] = float(np.corrcoef(observed, predicted)[0, 1] ** 2)
    return result


def scores_by_site(predictions: pd.DataFrame, model: str) -> dict[str, dict[str, float]]:
    """Scores of one model's column in `predictions` (columns site, observed, <model>):
    per site, and `overall` over all rows pooled."""
    by_site = {
        site: scores(rows["observed"].to_numpy(), rows[model].to_numpy())
        for site, rows in predictions.groupby("site", sort=True)
    }
    by_site["overall"] = scores(predictions["observed"].to_numpy(), predictions[model].to_numpy())
    return by_site
