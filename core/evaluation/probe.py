"""Downstream probe: how much of a raster label the embedding explains, next to the bands.

The paper's claim is that the embedding is an analysis-ready summary of the sensors; here it
is held to that on a label the user has (DESIGN 8). Per pixel, statistics of the embedding
over a period (its mean; mean and standard deviation; optionally percentiles) are set
against baselines computed from the cube the store was embedded from, over the same
period: band medians, band percentiles, NDVI percentiles, and the period mean of the
bands' principal components, as many as the embedding has features (at most the bands).

Every feature set is aggregated onto the label's grid by rioxarray (average resampling,
any CRS and resolution); a label pixel enters only when every set covers it fully, so all
sets are fed the same pixels. Spatial blocks of `block_size` metres go whole to one of
`folds` folds: each pixel is predicted by models that never saw its block (a random pixel
split would let neighbours of a test pixel train the model and flatter every set).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from cae.errors import InputError
from cae.evaluation.indices import NIR_BAND, RED_BAND, ndvi
from cae.embedding.store import open_store

#: Percentiles of the band and NDVI baselines (and of the embedding's optional set).
PERCENTILES = (10, 50, 90)
#: Integer labels with at most this many classes are classified (`task="auto"`).
MAX_CLASSES = 20
#: A label pixel is kept when every feature set covers at least this share of it.
FULL_COVERAGE = 0.999


@dataclass(frozen=True)
class ProbeOptions:
    #: A year, a span of years ("2017-2019") or dates ("2018-04-01/2018-09-30"); None: all dates.
    period: str | None = None
    #: Add the embedding's percentiles as a feature set.
    percentiles: bool = False
    #: Side of the spatial blocks, in metres of the embedding's CRS.
    block_size: float = 200.0
    folds: int = 5
    #: "auto", "regression" or "classification".
    task: str = "auto"
    seed: int = 42


@dataclass
class ProbeResult:
    """Out-of-fold predictions of every (feature set, model) on the label's pixels."""

    task: str
    label_name: str
    observed: np.ndarray  # (P,)
    rows: np.ndarray  # (P,) row of each pixel on the label grid
    cols: np.ndarray  # (P,)
    blocks: np.ndarray  # (P,) spatial block of each pixel
    folds: np.ndarray  # (P,) the fold whose test set holds each pixel
    label_shape: tuple[int, int]
    feature_sizes: dict[str, int]
    predictions: dict[tuple[str, str], np.ndarray]
    scores: dict[tuple[str, str], dict[str, float]]
    details: dict = field(default_factory=dict)


def parse_period(text: str | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """'2018' -> the whole year; '2017-2019' -> three years; 'START/END' -> those dates."""
    if text is None:
        return None
    try:
        if "/" in text:
            start, end = (pd.Timestamp(part) for part in text.split("/", 1))
        else:
            first, _, last = text.partition("-")
            start, end = pd.Timestamp(f"{int(first)}-01-01"), pd.Timestamp(f"{int(last or first)}-12-31")
    except ValueError:
        raise InputError(f"--period takes a year, a span of years (2017-2019) or START/END dates; got {text!r}") from None
    if start > end:
        raise InputError(f"--period {text}: it starts after it ends")
    return start, end + pd.Timedelta(hours=23, minutes=59)


def dates_in(times: np.ndarray, period: tuple[pd.Timestamp, pd.Timestamp] | None, what: str) -> np.ndarray:
    """Boolean selection of `times` within `period`; at least one date must be in it."""
    times = pd.DatetimeIndex(times)
    if period is None:
        return np.ones(len(times), bool)
    inside = np.asarray((times >= period[0]) & (times <= period[1]))
    if not inside.any():
        raise InputError(
            f"{what} has no date in the period {period[0].date()} .. {period[1].date()} "
            f"(its dates: {times.min().date()} .. {times.max().date()})"
        )
    return inside


def read_label(path: Path) -> xr.DataArray:
    """A one-band raster label (GeoTIFF or any GDAL raster) with its nodata masked as NaN."""
    if not path.exists():
        raise InputError(f"no label raster at {path}")
    try:
        label = rioxarray.open_rasterio(path, masked=True)
    except Exception as error:
        raise InputError(f"cannot read the label raster {path}: {str(error).splitlines()[0]}") from None
    if isinstance(label, list) or "band" not in label.dims:
        raise InputError(f"{path} is not a single raster (found several subdatasets)")
    if label.sizes["band"] != 1:
        raise InputError(f"{path} has {label.sizes['band']} bands; the label must be a single band")
    if label.rio.crs is None:
        raise InputError(f"{path} has no CRS; the label must be georeferenced to be aligned with the embedding")
    label = label.squeeze("band", drop=True).astype(np.float64)
    if not np.isfinite(label.values).any():
        raise InputError(f"{path} holds no valid value (all nodata)")
    label.name = path.stem
    return label


def on_label_grid(features: xr.DataArray, label: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """(F, y, x) features on the label's grid (average of the pixels each label pixel covers)
    and the share of each label pixel they cover with finite values, both from rioxarray."""
    from rasterio.enums import Resampling

    source = features.astype(np.float64).rio.write_nodata(np.nan)
    averaged = source.rio.reproject_match(label, resampling=Resampling.average)
    finite = np.isfinite(features).all("feature").astype(np.float64).rio.write_nodata(-1.0)
    coverage = finite.rio.reproject_match(label, resampling=Resampling.average)
    return averaged.transpose("feature", "y", "x").values, np.nan_to_num(coverage.values, nan=0.0)


def embedding_feature_sets(store: xr.Dataset, selected: np.ndarray, percentiles: bool) -> dict[str, xr.DataArray]:
    """Per-pixel statistics of the embedding over the selected dates, (feature, y, x) each."""
    embedding = store["embedding"].isel(time=selected).load()
    with warnings.catch_warnings():
        # Pixels without an embedding in the period (the border) give all-NaN slices: NaN, dropped.
        warnings.simplefilter("ignore", RuntimeWarning)
        sets = {"embedding mean": embedding.mean("time", skipna=True)}
        sets["embedding mean+std"] = xr.concat([sets["embedding mean"], embedding.std("time", skipna=True)], "feature")
        if percentiles:
            quantiles = embedding.quantile([p / 100 for p in PERCENTILES], "time", skipna=True)
            sets["embedding percentiles"] = quantiles.stack(stacked=("quantile", "feature")).transpose("stacked", ...)
    return {name: _as_features(values, store) for name, values in sets.items()}


def band_feature_sets(values: xr.DataArray, bands: Sequence[str], components: int, seed: int) -> dict[str, xr.DataArray]:
    """The baselines from the cube's preprocessed values (time, band, y, x), NaN where invalid."""
    from sklearn.decomposition import PCA

    array = values.values.astype(np.float64)  # (T, C, H, W)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # Pixels never valid in the period give all-NaN slices: they stay NaN and are dropped.
        warnings.simplefilter("ignore", RuntimeWarning)
        sets = {"band medians": np.nanmedian(array, axis=0)}
        sets["band percentiles"] = np.nanpercentile(array, PERCENTILES, axis=0).reshape(-1, *array.shape[2:])
        if RED_BAND in bands and NIR_BAND in bands:
            index = ndvi(array[:, bands.index(RED_BAND)], array[:, bands.index(NIR_BAND)])  # (T, H, W)
            sets["NDVI percentiles"] = np.nanpercentile(index, PERCENTILES, axis=0)
        components = min(components, len(bands))
        samples = array.transpose(0, 2, 3, 1).reshape(-1, len(bands))  # (T*H*W, C)
        valid = np.isfinite(samples).all(1)
        pca = PCA(components, random_state=seed).fit(samples[valid][:: max(valid.sum() // 200_000, 1)])
        projected = np.full((len(samples), components), np.nan)
        projected[valid] = pca.transform(samples[valid])
        projected = projected.reshape(array.shape[0], *array.shape[2:], components)
        sets[f"band PCA ({components}) mean"] = np.moveaxis(np.nanmean(projected, axis=0), -1, 0)
    template = values.isel(time=0, band=0, drop=True)
    return {
        name: xr.DataArray(data, dims=("feature", "y", "x"), coords={"y": template.y, "x": template.x})
        .rio.write_crs(values.rio.crs)
        for name, data in sets.items()
    }


def _as_features(values: xr.DataArray, store: xr.Dataset) -> xr.DataArray:
    """(feature, y, x) with a plain feature index and the store's CRS."""
    first = values.dims[0]
    data = values.transpose(first, "y", "x").values
    result = xr.DataArray(data, dims=("feature", "y", "x"), coords={"y": store.y.values, "x": store.x.values})
    return result.rio.write_crs(store.rio.crs)


def spatial_blocks(x: np.ndarray, y: np.ndarray, crs, block_crs, block_size: float) -> np.ndarray:
    """Block number of each point (x, y in `crs`): squares of `block_size` in `block_crs`
    (the embedding's, projected), so the block size means metres whatever the label's CRS."""
    from pyproj import Transformer

    if block_size <= 0:
        raise InputError(f"--block-size must be positive, got {block_size}")
    x, y = Transformer.from_crs(crs, block_crs, always_xy=True).transform(x, y)
    columns = np.floor((x - np.nanmin(x)) / block_size).astype(np.int64)
    rows = np.floor((np.nanmax(y) - y) / block_size).astype(np.int64)
    return rows * (columns.max() + 1) + columns


def assign_folds(blocks: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold of each pixel: blocks shuffled with `seed` and dealt out in turn, so a block
    is always whole in one fold and the folds hold nearly equal numbers of blocks."""
    unique = np.unique(blocks)
    if folds < 2:
        raise InputError(f"--folds must be at least 2, got {folds}")
    if len(unique) < folds:
        raise InputError(
            f"{len(unique)} spatial blocks hold labelled pixels, fewer than {folds} folds: "
            "choose a smaller --block-size or fewer --folds"
        )
    order = np.random.default_rng(seed).permutation(unique)
    fold_of_block = dict(zip(order.tolist(), (np.arange(len(order)) % folds).tolist()))
    return np.array([fold_of_block[block] for block in blocks.tolist()], dtype=np.int64)


def task_of(values: np.ndarray, task: str) -> str:
    """Classification for labels of integers with few distinct values, else regression.

    Decided on all of the label's valid values, so that a crop with a few values of a
    continuous label is still a regression."""
    if task not in ("auto", "regression", "classification"):
        raise InputError(f"--task must be auto, regression or classification, got {task!r}")
    if task != "auto":
        return task
    integral = np.all(values == np.round(values))
    return "classification" if integral and len(np.unique(values)) <= MAX_CLASSES else "regression"


def models_for(task: str, seed: int) -> dict:
    """Ridge (or logistic regression) on standardised features and gradient-boosted trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        return {
            "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            "boosted trees": lambda: HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=seed),
        }
    return {
        "ridge": lambda: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 4, 17))),
        "boosted trees": lambda: HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed),
    }


def probe_scores(observed: np.ndarray, predicted: np.ndarray, task: str) -> dict[str, float]:
    """Regression: R2 (coefficient of determination, 1 - SSE / SST), MAE, RMSE.
    Classification: accuracy and macro F1. NaN where undefined."""
    observed, predicted = np.asarray(observed, np.float64), np.asarray(predicted, np.float64)
    if task == "classification":
        from sklearn.metrics import f1_score

        return {"accuracy": float(np.mean(observed == predicted)), "f1_macro": float(f1_score(observed, predicted, average="macro")),
                "n": int(len(observed))}
    error = predicted - observed
    spread = np.sum((observed - observed.mean()) ** 2)
    return {
        "r2": float(1 - np.sum(error**2) / spread) if spread > 0 else float("nan"),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "n": int(len(observed)),
    }


def cross_validated(features: np.ndarray, observed: np.ndarray, folds: np.ndarray, make_model) -> np.ndarray:
    """Out-of-fold predictions: each fold predicted by a model fitted on the other folds."""
    predicted = np.empty(len(observed), dtype=np.float64)
    for fold in np.unique(folds):
        test = folds == fold
        model = make_model().fit(features[~test], observed[~test])
        predicted[test] = model.predict(features[test])
    return predicted


def run_probe(
    store_path: Path, label_path: Path, cube_paths: Sequence[Path] | None, options: ProbeOptions, progress=None
) -> ProbeResult:
    """The probe of the store's embedding against the label, with the cube's baselines."""
    store = open_store(store_path)
    label = read_label(label_path)
    period = parse_period(options.period)
    selected = dates_in(store.time.values, period, f"the embedding store {store_path}")
    if store.rio.crs is None:
        raise InputError(f"the embedding store {store_path} has no CRS; it cannot be aligned with the label")
    values, bands = reference_values(store, cube_paths, store_path)
    cube_selected = dates_in(values.time.values, period, "the cube")
    sets = embedding_feature_sets(store, selected, options.percentiles)
    sets |= band_feature_sets(values.isel(time=cube_selected), bands, store.sizes["feature"], options.seed)

    gridded, coverage = {}, np.ones(label.shape)
    for name, features in sets.items():
        gridded[name], covered = on_label_grid(features, label)
        coverage = np.minimum(coverage, covered)
    keep = (coverage >= FULL_COVERAGE) & np.isfinite(label.values)
    for array in gridded.values():
        keep &= np.isfinite(array).all(0)
    if keep.sum() < options.folds * 2:
        raise InputError(
            f"only {int(keep.sum())} label pixels are covered by the embedding and the cube"
            f"{'' if period is None else ' in the period'}: does the label lie over the embedded area?"
        )
    rows, cols = np.nonzero(keep)
    observed = label.values[keep]
    task = task_of(label.values[np.isfinite(label.values)], options.task)  # the whole label's values, not a crop's
    xs, ys = np.meshgrid(label.x.values, label.y.values)
    blocks = spatial_blocks(xs[keep], ys[keep], label.rio.crs, store.rio.crs, options.block_size)
    folds = assign_folds(blocks, options.folds, options.seed)
    models = models_for(task, options.seed)
    predictions, scores = {}, {}
    jobs = [(name, model) for name in gridded for model in models]
    for name, model in jobs:
        features = gridded[name][:, keep].T  # (P, F)
        predictions[name, model] = cross_validated(features, observed, folds, models[model])
        scores[name, model] = probe_scores(observed, predictions[name, model], task)
        if progress is not None:
            progress()
    return ProbeResult(
        task=task,
        label_name=label.name,
        observed=observed,
        rows=rows,
        cols=cols,
        blocks=blocks,
        folds=folds,
        label_shape=label.shape,
        feature_sizes={name: int(array.shape[0]) for name, array in gridded.items()},
        predictions=predictions,
        scores=scores,
        details={
            "label": str(label_path),
            "embeddings": str(store_path),
            "period": None if period is None else [str(period[0].date()), str(period[1].date())],
            "embedding_dates": int(selected.sum()),
            "cube_dates": int(cube_selected.sum()),
            "pixels": int(keep.sum()),
            "blocks": int(len(np.unique(blocks))),
            "folds": options.folds,
            "block_size_m": options.block_size,
            "label_crs": label.rio.crs.to_string(),
            "label_resolution": [abs(v) for v in label.rio.resolution()],
        },
    )


def reference_values(store: xr.Dataset, cube_paths: Sequence[Path] | None, store_path: Path) -> tuple[xr.DataArray, list[str]]:
    """The time-axis modality of the cubes (default: those the store was embedded from),
    preprocessed, on the store's grid: (time, band, y, x) with NaN where invalid."""
    from cae.cube.grid import same_grid
    from cae.cube.stack import load_stack
    from cae.plugins import installed_modalities

    paths = [Path(path) for path in cube_paths] if cube_paths else [Path(path) for path in store.attrs.get("inputs", [])]
    if not paths:
        raise InputError(f"{store_path} does not name the cubes it was embedded from; give them with --cube")
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise InputError(f"cube(s) not found: {', '.join(missing)} (give the cubes the store was embedded from with --cube)")
    reference = load_stack(paths, installed_modalities()).reference
    values = reference.values.rio.write_crs(store.rio.crs)
    if not same_grid(values, store):
        raise InputError(f"the cube {paths[0]} does not lie on the grid of the embedding store {store_path}")
    return values, list(reference.bands)


def scores_table(result: ProbeResult) -> pd.DataFrame:
    """One row per (feature set, model) with its scores, in the order they were run."""
    rows = [
        {"features": name, "model": model, "size": result.feature_sizes[name], **scores}
        for (name, model), scores in result.scores.items()
    ]
    return pd.DataFrame(rows)
