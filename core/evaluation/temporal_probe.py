"""Temporal fidelity: does the embedding of a pixel-date know that date's bands and NDVI?

The paper's point is an embedding at every cloud-free date that follows the season (DESIGN
8). Per pixel-date with an embedding and a valid cube value, the embedding of that date
alone predicts the centre pixel's preprocessed bands and NDVI on that date; spatial blocks
are held out as in the label probe (`cae.evaluation.probe`), so a pixel's neighbours never
train the model that predicts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cae.errors import InputError
from cae.evaluation.indices import NIR_BAND, RED_BAND, ndvi
from cae.embedding.store import open_store
from cae.evaluation.probe import (
    ProbeOptions,
    assign_folds,
    cross_validated,
    dates_in,
    models_for,
    parse_period,
    probe_scores,
    reference_values,
    spatial_blocks,
)

#: Pixel-dates kept (whole pixels, drawn with the seed) from all those with an embedding:
#: enough for stable scores, few enough for seconds of fitting.
MAX_PIXEL_DATES = 20_000


@dataclass
class TemporalProbeResult:
    """Out-of-fold predictions of each target (bands, NDVI) from each pixel-date's embedding."""

    times: np.ndarray  # (N,) date of each pixel-date
    rows: np.ndarray  # (N,)
    cols: np.ndarray  # (N,)
    observed: dict[str, np.ndarray]
    predictions: dict[tuple[str, str], np.ndarray]
    scores: dict[tuple[str, str], dict[str, float]]
    details: dict = field(default_factory=dict)


def run_temporal_probe(
    store_path: Path, cube_paths: Sequence[Path] | None, options: ProbeOptions,
    max_pixel_dates: int | None = None, progress=None,
) -> TemporalProbeResult:
    """Predict each pixel-date's bands and NDVI from its embedding, spatial blocks held out
    (at most `max_pixel_dates`, default `MAX_PIXEL_DATES`)."""
    max_pixel_dates = max_pixel_dates or MAX_PIXEL_DATES
    store = open_store(store_path)
    period = parse_period(options.period)
    selected = dates_in(store.time.values, period, f"the embedding store {store_path}")
    values, bands = reference_values(store, cube_paths, store_path)
    embedding = store["embedding"].isel(time=selected).load()  # (F, T, H, W)
    try:
        cube = values.sel(time=embedding.time.values).values  # (T, C, H, W)
    except KeyError:
        raise InputError(f"the cube's dates are not those of the embedding store {store_path}") from None
    usable = np.isfinite(embedding.values).all(0) & np.isfinite(cube).all(1)  # (T, H, W)
    t, y, x = np.nonzero(usable)
    if len(t) == 0:
        raise InputError(f"no pixel-date has both an embedding and a valid cube value in {store_path}")
    if len(t) > max_pixel_dates:
        # Whole pixels, drawn at random: every date of a chosen pixel, so its series can be followed.
        pixel = y * usable.shape[2] + x
        order = np.random.default_rng(options.seed).permutation(np.unique(pixel))
        counts = np.bincount(pixel, minlength=usable.shape[1] * usable.shape[2])[order]
        chosen = np.isin(pixel, order[: int(np.searchsorted(np.cumsum(counts), max_pixel_dates)) + 1])
        t, y, x = t[chosen], y[chosen], x[chosen]
    features = embedding.values[:, t, y, x].T  # (N, F)
    centre = cube[t, :, y, x]  # (N, C)
    observed = {band: centre[:, i].astype(np.float64) for i, band in enumerate(bands)}
    if RED_BAND in bands and NIR_BAND in bands:
        observed = {"NDVI": ndvi(observed[RED_BAND], observed[NIR_BAND]), **observed}
    crs = store.rio.crs
    blocks = spatial_blocks(store.x.values[x], store.y.values[y], crs, crs, options.block_size)
    folds = assign_folds(blocks, options.folds, options.seed)
    models = models_for("regression", options.seed)
    predictions, scores = {}, {}
    for target, truth in observed.items():
        finite = np.isfinite(truth)
        for model in models:
            predicted = np.full(len(truth), np.nan)
            predicted[finite] = cross_validated(features[finite], truth[finite], folds[finite], models[model])
            predictions[target, model] = predicted
            scores[target, model] = probe_scores(truth[finite], predicted[finite], "regression")
            if progress is not None:
                progress()
    return TemporalProbeResult(
        times=embedding.time.values[t],
        rows=y,
        cols=x,
        observed=observed,
        predictions=predictions,
        scores=scores,
        details={
            "embeddings": str(store_path),
            "period": None if period is None else [str(period[0].date()), str(period[1].date())],
            "pixel_dates": int(len(t)),
            "pixel_dates_available": int(usable.sum()),
            "blocks": int(len(np.unique(blocks))),
            "folds": options.folds,
            "block_size_m": options.block_size,
        },
    )

