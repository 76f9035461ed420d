"""Maps of the embedding: true colour beside a PCA-RGB of the features, per date.

The paper's qualitative figure: the 7 features reduced to 3 principal components shown as
red, green and blue. The PCA and its colour stretch (2nd to 98th percentile of each
component) are fitted on a fixed sample spread over the whole store, every date and a
regular grid of pixels, so a colour means the same embedding on every map of the store,
whichever dates one call or the next maps. The fit is written beside the maps (pca.json);
nothing is ever written into the store. With `geotiff`, each PCA-RGB is also a
georeferenced GeoTIFF for a GIS.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.atomic import write_json
from cae.embedding.store import open_store
from cae.errors import DataWarning, InputError
from cae.evaluation.output import check_output_folder, staged_folder
from cae.plots import pyplot, save_figure

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
    dates spread over the series. `counts`: embedded pixels per store date. An asked-for
    date whose nearest store date has no embedding is skipped with a DataWarning."""
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
                warnings.warn(f"skipped --date {text}: the store date nearest it ({nearest.date()}) has no embedded "
                              "pixel (the ends of the series, or clouds)", DataWarning, stacklevel=2)
                continue
            chosen.append(nearest)
        if not chosen:
            raise InputError("none of the --date values has an embedded pixel on its nearest store date; nothing to map")
        return sorted(set(chosen))
    if counts.max() == 0:
        raise InputError("the embedding store has no embedded pixel on any date")
    candidates = counts.index[counts >= WELL_COVERED * counts.max()]
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(count, len(candidates))).round().astype(int))
    return list(candidates[picks])


def spread_sample(embedding: xr.DataArray, size: int = PCA_PIXELS) -> np.ndarray:
    """(N, F) embedded pixel-dates spread over the whole store: every date, a regular grid of
    pixels (about 4 x `size` pixel-dates read), at most `size` of them evenly picked. The
    same sample on every call, whatever dates are mapped."""
    n_times, height, width = (embedding.sizes[dim] for dim in ("time", "y", "x"))
    stride = max(1, int(np.ceil(np.sqrt(n_times * height * width / (4 * size)))))
    grid = embedding.isel(y=slice(stride // 2, None, stride), x=slice(stride // 2, None, stride))
    values = grid.transpose("time", "y", "x", "feature").values.reshape(-1, embedding.sizes["feature"])
    values = values[np.isfinite(values).all(1)]
    if len(values) > size:
        values = values[np.linspace(0, len(values) - 1, size).round().astype(int)]
    return values


@dataclass(frozen=True)
class PcaColours:
    """A PCA of the features to 3 components and the stretch of each to [0, 1]."""

    mean: np.ndarray  # (F,)
    components: np.ndarray  # (3, F)
    low: np.ndarray  # (3,): 2nd percentile of each component on the sample
    high: np.ndarray  # (3,): 98th percentile
    explained_variance_ratio: np.ndarray  # (3,)
    sampled: int

    @classmethod
    def fit(cls, sample: np.ndarray) -> PcaColours:
        from sklearn.decomposition import PCA

        if len(sample) < 3:
            raise InputError("too few embedded pixels in the store for a PCA of 3 components")
        pca = PCA(n_components=3, svd_solver="full").fit(sample)
        projected = pca.transform(sample)
        return cls(pca.mean_, pca.components_, np.percentile(projected, 2, axis=0), np.percentile(projected, 98, axis=0),
                   pca.explained_variance_ratio_, len(sample))

    def colours(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(D, H, W, 3) colours in [0, 1] of the embeddings `frames` (D, H, W, F), NaN where a
        pixel has no embedding, and the share of embedded pixels per date."""
        valid = np.isfinite(frames).all(-1)  # (D, H, W)
        colours = np.full(frames.shape[:3] + (3,), np.nan)
        colours[valid] = _stretch((frames[valid] - self.mean) @ self.components.T, self.low, self.high)
        return colours, valid.mean((1, 2))

    def to_dict(self) -> dict:
        return {
            "fitted_on": f"{self.sampled} embedded pixel-dates spread over the whole store (every date, a regular pixel grid)",
            **{name: getattr(self, name).tolist() for name in ("mean", "components", "low", "high", "explained_variance_ratio")},
        }


def _stretch(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.clip((values - low) / np.where(high > low, high - low, 1.0), 0, 1)


#: Grey shown in the PNG maps where a pixel has no embedding, or no valid true colour.
MISSING_GREY = 0.85


def write_rgb_geotiff(colours: np.ndarray, grid: xr.DataArray, path: Path) -> None:
    """One date's (H, W, 3) PCA colours as a Cloud-Optimized GeoTIFF on the store's grid:
    uint8 bands red, green, blue in 1..255, 0 (nodata) where a pixel has no embedding."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    embedded = np.isfinite(colours).all(-1)
    codes = np.where(embedded[..., None], 1 + np.round(np.nan_to_num(colours) * 254), 0).astype(np.uint8)
    raster = xr.DataArray(codes.transpose(2, 0, 1), dims=("band", "y", "x"),
                          coords={"band": [1, 2, 3], "y": grid["y"].values, "x": grid["x"].values})
    raster = raster.rio.write_crs(grid.rio.crs).rio.write_nodata(0)
    raster.attrs["long_name"] = ("PCA component 1 (red)", "PCA component 2 (green)", "PCA component 3 (blue)")
    raster.rio.to_raster(path, driver="COG", compress="DEFLATE")


def embedding_maps(
    store_path: Path,
    cube_path: Path,
    out: Path,
    dates: list[str] | None = None,
    count: int = 4,
    rgb: tuple[str, str, str] = TRUE_COLOUR,
    overwrite: bool = False,
    geotiff: bool = False,
) -> list[Path]:
    """Write map_<date>.png (and with `geotiff` map_<date>.tif) for each chosen date and the
    PCA's pca.json into the folder `out`; returns the paths of the maps."""
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
    pca = PcaColours.fit(spread_sample(embedding))
    colours, embedded = pca.colours(embedding.sel(time=chosen).transpose("time", "y", "x", "feature").values)
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
            axes[0].imshow(np.nan_to_num(true_colour, nan=MISSING_GREY), extent=extent, interpolation="nearest")
            axes[0].set_title(f"true colour ({' '.join(rgb)})", fontsize=10)
            axes[1].imshow(np.nan_to_num(features, nan=MISSING_GREY), extent=extent, interpolation="nearest")
            axes[1].set_title(f"PCA of the {embedding.sizes['feature']} features as RGB ({share:.0%} embedded)", fontsize=10)
            for axis in axes:
                axis.ticklabel_format(useOffset=False, style="plain")
                axis.tick_params(labelsize=7)
                axis.set_xlabel(f"x ({crs})", fontsize=8)
            axes[0].set_ylabel(f"y ({crs})", fontsize=8)
            figure.suptitle(f"{Path(store_path).name}, {date.date()}", fontsize=11)
            figure.tight_layout()
            path = folder / f"map_{date.date()}.png"
            save_figure(figure, path)
            paths.append(out / path.name)
            if geotiff:
                write_rgb_geotiff(features, embedding, folder / f"map_{date.date()}.tif")
                paths.append(out / f"map_{date.date()}.tif")
        write_json(folder / "pca.json", {"store": str(store_path), **pca.to_dict()})
    return paths
