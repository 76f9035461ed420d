"""Per-date inputs of each flux site: the embedding around the tower, or a table of features.

From a store written by `cae embed` of a cube around a tower, each date's features are the
mean embedding over the tower's footprint: the pixels whose centres lie within a radius of
the tower (at least the pixel it stands in), on dates where enough of them have an
embedding. The same footprint of the cube the store was embedded from gives the mean
reflectance of each band (valid pixels only), and NDVI and NIRv where the cube has red
and near-infrared bands: the baselines fed the same dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cae.errors import InputError
from cae.evaluation.indices import BAND_ALIASES, NIR_BAND, RED_BAND, band_columns, ndvi, nirv

#: Names of the input sets a site can have (besides the flux folder's meteorology).
FEATURES, BANDS, INDICES = "features", "bands", "ndvi_nirv"


@dataclass(frozen=True)
class FeatureSource:
    """Where the features of one or more sites come from: a table, or a site's embedding store."""

    path: Path
    site: str | None = None

    @classmethod
    def parse(cls, text: str) -> FeatureSource:
        """'SITE=STORE.zarr' (an embedding store around SITE's tower) or 'TABLE.csv'."""
        site, separator, path = text.partition("=")
        if separator and site and not Path(text).exists():
            return cls(Path(path), site)
        path = Path(text)
        if path.suffix == ".zarr" or (path / "zarr.json").exists():
            raise InputError(f"{text}: say which tower the store lies around, as SITE={text}")
        return cls(path)


def read_feature_table(path: Path) -> dict[str, pd.DataFrame]:
    """A per-date feature table (CSV: columns site, date, then numeric features) by site."""
    if not path.is_file():
        raise InputError(f"no feature table at {path} (a CSV file with columns site, date and features)")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the feature table {path}: {error}") from error
    for column in ("site", "date"):
        if column not in table.columns:
            raise InputError(f"the feature table {path} has no `{column}` column (columns: {', '.join(table.columns)})")
    try:
        table["date"] = pd.to_datetime(table["date"]).dt.normalize()
    except (ValueError, TypeError) as error:
        raise InputError(f"the `date` column of {path} holds something other than dates: {error}") from error
    columns = [column for column in table.columns if column not in ("site", "date")]
    text = [column for column in columns if not pd.api.types.is_numeric_dtype(table[column])]
    if not columns or text:
        raise InputError(f"the feature table {path} needs numeric feature columns besides site and date"
                         + (f"; not numeric: {', '.join(text)}" if text else ""))
    table["site"] = table["site"].astype(str)
    return {
        site: rows.set_index("date")[columns].astype(np.float64).sort_index()
        for site, rows in table.groupby("site", sort=True)
    }


def footprint(grid: xr.Dataset | xr.DataArray, latitude: float, longitude: float, radius: float, source: str) -> tuple[slice, slice, np.ndarray]:
    """Rows, columns and mask (within them) of the pixels within `radius` metres of a point.

    The point (WGS84) is projected to the grid's CRS; it must lie on the grid.
    """
    from pyproj import Transformer

    from cae.cube.grid import crs_of, resolution_of

    crs = crs_of(grid)
    if crs is None:
        raise InputError(f"{source} has no CRS, so the tower cannot be placed on it")
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(longitude, latitude)
    xs, ys = grid["x"].values, grid["y"].values
    step_x, step_y = resolution_of(grid)
    inside = (min(xs) - step_x / 2 <= x <= max(xs) + step_x / 2) and (min(ys) - step_y / 2 <= y <= max(ys) + step_y / 2)
    if not inside:
        raise InputError(
            f"the tower at {latitude:.5f} N {longitude:.5f} E lies outside {source} "
            f"(x {min(xs):.0f}..{max(xs):.0f}, y {min(ys):.0f}..{max(ys):.0f} in {crs.name}); embed a cube around it"
        )
    distance = np.hypot(xs[None, :] - x, ys[:, None] - y)  # (H, W)
    within = distance <= radius
    within[np.unravel_index(np.argmin(distance), distance.shape)] = True
    rows, cols = np.flatnonzero(within.any(1)), np.flatnonzero(within.any(0))
    rows, cols = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return rows, cols, within[rows, cols]


def _footprint_means(values: np.ndarray, mask: np.ndarray, min_valid_fraction: float) -> np.ndarray:
    """(T, C) means over the footprint `mask` (h, w) of `values` (T, C, h, w), NaN where too
    few footprint pixels are finite in every channel."""
    valid = np.isfinite(values).all(axis=1) & mask  # (T, h, w)
    counts = valid.sum((1, 2))  # (T,)
    totals = np.where(valid[:, None], values, 0.0).sum((2, 3))  # (T, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals / counts[:, None]
    return np.where((counts >= min_valid_fraction * mask.sum())[:, None] & (counts > 0)[:, None], means, np.nan)


def store_features(
    store: Path, latitude: float, longitude: float, radius: float, min_valid_fraction: float = 0.5
) -> dict[str, pd.DataFrame]:
    """The input sets of one tower from an embedding store of a cube around it.

    `features`: the footprint mean of each embedding feature per date; `bands`: the
    footprint mean reflectance of the store's input cube (when it can still be read);
    `ndvi_nirv`: NDVI and NIRv of those means (when the cube has red and NIR bands).
    """
    from cae.embedding.store import open_store

    dataset = open_store(store)
    rows, cols, mask = footprint(dataset, latitude, longitude, radius, str(store))
    dates = pd.DatetimeIndex(dataset["time"].values).normalize()
    embedding = dataset["embedding"].isel(y=rows, x=cols).transpose("time", "feature", "y", "x").values
    means = _footprint_means(embedding, mask, min_valid_fraction)
    sets = {FEATURES: pd.DataFrame(means, index=dates, columns=[f"embedding_{i}" for i in dataset["feature"].values])}
    inputs = inputs_beside(dataset.attrs.get("inputs"), store)
    if inputs:
        from cae.cube.stack import load_stack
        from cae.plugins.manager import installed_modalities

        reference = load_stack(inputs, installed_modalities(), load=False).reference
        region = dict(y=rows, x=cols)
        values = reference.values.isel(region).transpose("time", "band", "y", "x").values
        valid = reference.valid.isel(region).values
        reflectance = _footprint_means(np.where(valid[:, None], values, np.nan), mask, min_valid_fraction)
        band_dates = pd.DatetimeIndex(reference.times).normalize()
        bands = pd.DataFrame(reflectance, index=band_dates, columns=list(reference.bands))
        sets[BANDS] = bands
        indices = index_set(bands, str(store))
        if indices is not None:
            sets[INDICES] = indices
    return sets


def index_set(reflectance: pd.DataFrame, source: str) -> pd.DataFrame | None:
    """NDVI and NIRv of the red and NIR columns of `reflectance`, under any of their names
    (`cae.evaluation.indices.BAND_ALIASES`); None without both.

    Two columns naming one band are refused rather than one picked silently.
    """
    found = {band: band_columns(reflectance.columns, band) for band in (RED_BAND, NIR_BAND)}
    for band, columns in found.items():
        if len(columns) > 1:
            raise InputError(f"{source}: the columns {' and '.join(columns)} both name band {band} "
                             f"({', '.join(BAND_ALIASES[band])}); keep one")
    if not all(found.values()):
        return None
    red, nir = reflectance[found[RED_BAND][0]], reflectance[found[NIR_BAND][0]]
    return pd.DataFrame({"NDVI": ndvi(red, nir), "NIRv": nirv(red, nir)})


def inputs_beside(recorded: Any, store: Path) -> list[Path]:
    """The input cubes a store records, if they all lie in the folder that holds the store.

    A path read from a file's metadata is never followed outside that folder: a store made
    elsewhere could name any file on this machine. Outside it, the band-mean baselines are
    left out (as when the input cube is gone).
    """
    folder = store.resolve().parent
    if not isinstance(recorded, list) or not recorded or not all(isinstance(path, str) for path in recorded):
        return []
    paths = [(folder / path).resolve() for path in recorded]
    return paths if all(path.is_relative_to(folder) and path.exists() for path in paths) else []


def table_input_sets(features: pd.DataFrame, source: str) -> dict[str, pd.DataFrame]:
    """The input sets of one site's rows of a feature table: its features, and NDVI and
    NIRv when it has red and NIR columns (B04/B08, Earth Engine's B4/B8, Earth Search's
    red/nir: tables come from all of them)."""
    sets = {FEATURES: features}
    indices = index_set(features, source)
    if indices is not None:
        sets[INDICES] = indices
    return sets


def site_inputs(
    sources: list[FeatureSource], locations: pd.DataFrame, radius: float, min_valid_fraction: float = 0.5
) -> dict[str, dict[str, pd.DataFrame]]:
    """Input sets by site from all feature sources; a site may come from one source only.

    `locations`: the flux folder's site list (latitude, longitude by site).
    """
    found: dict[str, dict[str, pd.DataFrame]] = {}
    origin: dict[str, Path] = {}

    def add(site: str, sets: dict[str, pd.DataFrame], path: Path) -> None:
        if site in found:
            raise InputError(f"site {site} has features in both {origin[site]} and {path}; give one source per site")
        if site not in locations.index:
            raise InputError(f"{path} has features of site {site!r}, which the flux folder does not list")
        found[site], origin[site] = sets, path

    for source in sources:
        if source.site is None:
            for site, table in read_feature_table(source.path).items():
                add(site, table_input_sets(table, str(source.path)), source.path)
        else:
            if source.site not in locations.index:
                raise InputError(f"site {source.site!r} (in {source.site}={source.path}) is not in the flux folder's site list")
            row = locations.loc[source.site]
            sets = store_features(source.path, float(row["latitude"]), float(row["longitude"]), radius, min_valid_fraction)
            add(source.site, sets, source.path)
    columns = {tuple(sets[FEATURES].columns) for sets in found.values()}
    if len(columns) > 1:
        raise InputError(f"the sites' features have different columns: {' vs '.join(map(str, columns))}")
    return found
