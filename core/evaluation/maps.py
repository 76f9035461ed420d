"""Maps of the embedding: true colour beside a PCA-RGB of the features, per date.

The paper's qualitative figure: the 7 features reduced to 3 principal components shown as
red, green and blue. One PCA, fitted on the embedded pixels of all chosen dates, with one
colour stretch (2nd to 98th percentile of each component), colours every date, so a
colour means the same embedding on every map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.embedding.store import open_store
from cae.errors import InputError
from cae.evaluation.output import check_output_folder, pyplot, staged_folder

#: Bands shown as red, green and blue (Sentinel-2's B04, B03, B02).
TRUE_COLOUR = ("B04", "B03", "B02")
#: Dates chosen automatically are among those embedded on at least this share of the best date's pixels.
WELL_COVERED = 0.8
PCA_PIXELS = 100_000


#: Farthest a store date may lie from an asked-for --date (Sentinel-2 revisits every 5 days,
#: clouds can leave weeks without a usable date).
MAX_DATE_DISTANCE_DAYS = 30


def choose_dates(counts: pd.Series, dates: list[str] | None, count: int) -> list[pd.Timestamp]:
    """The store dates to map: the nearest to each asked-for date, or `count` well-covered
    dates spread over the series. `counts`: embedded pixels per store date."""
    if dates:
        chosen = []
        for text in dates:
            try:
                wanted = pd.Timestamp(text)
            except ValueError:
                raise InputError(f"--date {text!r} is not a date (use YYYY-MM-DD)") from None
            nearest = counts.index[np.argmin(np.abs((counts.index - wanted).days))]
            if abs((nearest - wanted).days) > MAX_DATE_DISTANCE_DAYS:
                raise InputError(
                    f"--date {text} is {abs((nearest - wanted).days)} days from the nearest store date "
                    f"({nearest.date()}); the store covers {counts.index[0].date()} to {counts.index[-1].date()}"
                )
            if counts[nearest] == 0:
                raise InputError(f"the store date nearest {text} ({nearest.date()}) has no embedded pixel")
            chosen.append(nearest)
        return sorted(set(chosen))
    if counts.max() == 0:
        raise InputError("the embedding store has no embedded pixel on any date")
    candidates = counts.index[counts >= WELL_COVERED * counts.max()]
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(count, len(candidates))).round().astype(int))
    return list(candidates[picks])


def feature_colours(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W, 3) colours in [0, 1] of the embeddings `frames` (D, H, W, F), and the
    share of embedded pixels per date. Grey where a pixel has no embedding."""
    from sklearn.decomposition import PCA

    valid = np.isfinite(frames).all(-1)  # (D, H, W)
    pixels = frames[valid]
    if len(pixels) < 3:
        raise InputError("too few embedded pixels on the chosen dates for a PCA of 3 components")
    sample = pixels[np.random.default_rng(0).permutation(len(pixels))[:PCA_PIXELS]]
    pca = PCA(n_components=3, random_state=0).fit(sample)
    projected = pca.transform(sample)
    low, high = np.percentile(projected, 2, axis=0), np.percentile(projected, 98, axis=0)
    colours = np.full(frames.shape[:3] + (3,), 0.85)  # light grey where nothing was embedded
    colours[valid] = _stretch(pca.transform(pixels), low, high)
    return colours, valid.mean((1, 2))


def _stretch(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.clip((values - low) / np.where(high > low, high - low, 1.0), 0, 1)


def embedding_maps(
    store_path: Path,
    cube_path: Path,
    out: Path,
    dates: list[str] | None = None,
    count: int = 4,
    rgb: tuple[str, str, str] = TRUE_COLOUR,
    overwrite: bool = False,
) -> list[Path]:
    """Write map_<date>.png for each chosen date into the folder `out`; returns their paths."""
    from cae.cube.grid import crs_label, crs_of, same_grid
    from cae.cube.io import open_cube

    inputs = (store_path, cube_path)
    check_output_folder(out, overwrite, inputs)

    store = open_store(store_path)
    cube = open_cube(cube_path)
    missing = [band for band in rgb if band not in cube.data_vars]
    if missing:
        raise InputError(f"{cube_path} lacks the band(s) {', '.join(missing)} for true colour; bands: {', '.join(cube.data_vars)}")
    if not same_grid(store, cube):
        raise InputError(f"{store_path} and {cube_path} are not on the same pixel grid; give the cube that was embedded")
    embedding = store["embedding"]
    counts = embedding.isel(feature=0).notnull().sum(("y", "x")).to_series()
    counts.index = pd.DatetimeIndex(counts.index)
    chosen = choose_dates(counts, dates, count)
    scenes = pd.DatetimeIndex(cube["time"].values)
    absent = [str(date.date()) for date in chosen if date not in scenes]
    if absent:
        raise InputError(f"{cube_path} has no scene on {', '.join(absent)}: give the cube that was embedded")
    colours, embedded = feature_colours(embedding.sel(time=chosen).transpose("time", "y", "x", "feature").values)
    xs, ys = store["x"].values, store["y"].values
    half = abs(xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    extent = (xs.min() - half, xs.max() + half, ys.min() - half, ys.max() + half)
    crs = crs_label(crs_of(store))
    plt = pyplot()
    paths = []
    with staged_folder(out, overwrite, inputs) as folder:
        for date, features, share in zip(chosen, colours, embedded):
            colour = np.stack([cube[band].sel(time=date).values for band in rgb], axis=-1).astype(np.float64)
            finite = colour[np.isfinite(colour)]
            stretch_low, stretch_high = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
            true_colour = _stretch(colour, stretch_low, stretch_high)
            figure, axes = plt.subplots(1, 2, figsize=(10, 5.4), dpi=100)
            axes[0].imshow(np.nan_to_num(true_colour, nan=0.85), extent=extent, interpolation="nearest")
            axes[0].set_title(f"true colour ({' '.join(rgb)})", fontsize=10)
            axes[1].imshow(features, extent=extent, interpolation="nearest")
            axes[1].set_title(f"PCA of the {embedding.sizes['feature']} features as RGB ({share:.0%} embedded)", fontsize=10)
            for axis in axes:
                axis.ticklabel_format(useOffset=False, style="plain")
                axis.tick_params(labelsize=7)
                axis.set_xlabel(f"x ({crs})", fontsize=8)
            axes[0].set_ylabel(f"y ({crs})", fontsize=8)
            figure.suptitle(f"{Path(store_path).name}, {date.date()}", fontsize=11)
            figure.tight_layout()
            path = folder / f"map_{date.date()}.png"
            figure.savefig(path)
            plt.close(figure)
            paths.append(out / path.name)
    return paths
