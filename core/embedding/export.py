"""`cae export`: dates of an embedding store as Cloud-Optimized GeoTIFFs for a GIS.

One COG per date, its bands the features (`emb_0`, `emb_1`, ...: band descriptions say
which), georeferenced on the store's grid, and nodata where a pixel-date has no embedding
(NaN in float32; with `int8`, the code -128, the quantised copy's own marker, with GDAL's
per-band scale and offset so that a GIS shows the dequantised values). Written by
rioxarray through GDAL's COG driver, into a folder that appears only when complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.embedding import store as stores
from cae.errors import InputError

#: Prefix of the band names: band i (from 1) holds feature `emb_{i - 1}`.
BAND_PREFIX = "emb_"


def select_dates(times: pd.DatetimeIndex, date: str | None, period: str | None) -> pd.DatetimeIndex:
    """The store times to export: every one on the calendar day `date` (store times carry
    hours, so a day matches by day, not by instant), or those in `period`, or all."""
    from cae.evaluation.probe import dates_in, parse_period

    if date is not None and period is not None:
        raise InputError("give --date or --period, not both")
    if date is None:
        return times[dates_in(times, parse_period(period), "the embedding store")]
    try:
        day = pd.Timestamp(date).normalize()
    except ValueError:
        raise InputError(f"--date {date!r} is not a date (use YYYY-MM-DD)") from None
    chosen = times[times.normalize() == day]
    if not len(chosen):
        nearest = times[np.argsort(np.abs((times.normalize() - day).days))[:2]].sort_values()
        raise InputError(
            f"the embedding store has no date {day.date()}; the nearest are "
            f"{' and '.join(str(time.date()) for time in nearest)} (it covers {times[0].date()} to {times[-1].date()})"
        )
    return chosen


def band_names(dataset: xr.Dataset) -> list[str]:
    return [f"{BAND_PREFIX}{int(feature)}" for feature in dataset["feature"].values]


def export_geotiffs(
    store_path: Path,
    out: Path,
    date: str | None = None,
    period: str | None = None,
    int8: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write `<store>_<date>.tif` for each chosen date into the folder `out`; returns their paths."""
    from cae.cube.grid import crs_of
    from cae.evaluation.output import check_output_folder, staged_folder

    store_path, out = Path(store_path), Path(out)
    check_output_folder(out, overwrite, (store_path,))
    dataset = stores.open_store(store_path)
    if int8 and stores.INT8 not in dataset:
        raise InputError(f"{store_path} has no int8 copy ({stores.INT8}); embed with --int8, or export without --int8")
    if crs_of(dataset) is None:
        raise InputError(f"{store_path} has no CRS; a GeoTIFF without one would not lie anywhere in a GIS")
    times = select_dates(pd.DatetimeIndex(dataset["time"].values), date, period)
    layers = _int8_layers(store_path) if int8 else dataset["embedding"]
    names = band_names(dataset)
    paths = []
    with staged_folder(out, overwrite, (store_path,)) as folder:
        for time in times:
            name = f"{store_path.stem}_{_stamp(time, times)}.tif"
            _write_cog(layers.sel(time=time), names, time, store_path, folder / name)
            paths.append(out / name)
    return paths


def _int8_layers(store_path: Path) -> xr.DataArray:
    """The int8 codes as stored (-128: none), with the per-feature scale and offset kept for GDAL."""
    raw = xr.open_zarr(store_path, consolidated=False, decode_coords="all", mask_and_scale=False)
    codes = raw[stores.INT8]
    codes.encoding.update(
        scales=tuple(float(value) for value in raw[stores.INT8_SCALE].values),
        offsets=tuple(float(value) for value in raw[stores.INT8_OFFSET].values),
    )
    return codes


def _stamp(time: pd.Timestamp, times: pd.DatetimeIndex) -> str:
    """The date, with the time of day only when the store has two times on that day."""
    same_day = (times.normalize() == time.normalize()).sum()
    return str(time.date()) if same_day == 1 else time.strftime("%Y-%m-%dT%H%M%S")


def _write_cog(layer: xr.DataArray, names: list[str], time: pd.Timestamp, store_path: Path, path: Path) -> None:
    """One date (feature, y, x) as a COG: one band per feature, described, with its nodata."""
    nodata = stores.INT8_MISSING if layer.dtype == np.int8 else np.nan
    layer = layer.drop_vars("time").transpose("feature", "y", "x").load()
    layer.encoding = {key: value for key, value in layer.encoding.items() if key in ("scales", "offsets")}  # not zarr's
    layer.attrs = {
        "long_name": tuple(names),
        "cae_store": store_path.name,
        "cae_date": time.isoformat(),
        "cae_meaning": "cae fused embedding, one band per feature; nodata: no embedding (no full context or a cloudy centre)",
    }
    layer.rio.write_nodata(nodata, encoded=False, inplace=True)
    layer.rio.to_raster(path, driver="COG", compress="DEFLATE")
