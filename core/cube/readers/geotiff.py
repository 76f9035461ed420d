"""A folder (or glob) of GeoTIFF/COG files, one date per file or one file per date and band.

This is what Earth Engine exports, most downloaders and other providers' Sentinel-1 RTC
products look like. Each file's date comes from `--date-pattern` (a regular expression: its
`date` group, or `year`, `month` and `day` groups, or its first group), else from a Sentinel
product ID, a compact (`20200122T184651`, `20200122`) or ISO (`2020-01-22`) date in its name,
else from its tags (`datetime`, `date`, TIFFTAG_DATETIME, Earth Engine's `system:time_start`).
Band names come from `--bands` (the order of a multi-band file), else from the files' band
descriptions, else (one band per file) from a band name or alias in the file name (`..._VH.tif`,
`..._B04.tif`). Files are read with rioxarray; every file must lie on one grid (putting
sources on another grid is co-registration, not reading).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.cube.aliases import known_names
from cae.cube.readers.assemble import assemble_cube, drop_spatial_ref
from cae.cube.readers.options import ReadOptions
from cae.cube.readers.scaling import (
    Scaling,
    attribute_scaling,
    l2a_scaling_from_name,
    refuse_unscaled,
    user_scaling,
)
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec

SUFFIXES = (".tif", ".tiff")
#: Dates in file names, most specific first: a Sentinel product ID's sensing time, a compact
#: date-time, an ISO date, a compact date (with no other digit next to it).
NAME_DATES = (
    (re.compile(r"_MSIL[12][AC]_(\d{8}T\d{6})_"), "%Y%m%dT%H%M%S"),
    (re.compile(r"(?<!\d)(\d{8}T\d{6})(?!\d)"), "%Y%m%dT%H%M%S"),
    (re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)"), "%Y-%m-%d"),
    (re.compile(r"(?<!\d)(20\d{6})(?!\d)"), "%Y%m%d"),
)
DATE_TAGS = ("datetime", "date", "DATETIME", "DATE", "ACQUISITION_DATE", "TIFFTAG_DATETIME")


def is_glob(path: Path) -> bool:
    return "*" in str(path) or "?" in str(path)


def glob_matches(pattern: Path) -> list[Path]:
    """The paths a glob (relative or absolute, as a shell that did not expand it was given) matches."""
    if pattern.is_absolute():
        return sorted(Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor))))
    return sorted(Path().glob(str(pattern)))


def tiff_files(sources: Sequence[Path]) -> list[Path]:
    """The GeoTIFFs among `sources`: files, the GeoTIFFs in folders (recursively), glob matches."""
    files: list[Path] = []
    for source in sources:
        if is_glob(source):
            files += glob_matches(source)
        elif source.is_dir():
            files += sorted(path for path in source.rglob("*") if path.suffix.lower() in SUFFIXES)
        else:
            files.append(source)
    return [path for path in files if path.suffix.lower() in SUFFIXES]


def read_geotiffs(sources: Sequence[Path], spec: ModalitySpec, options: ReadOptions) -> xr.Dataset:
    """GeoTIFFs of one place and several dates -> a cube of `spec` (see the module docstring)."""
    files = tiff_files(sources)
    if not files:
        raise InputError(f"no GeoTIFF (.tif, .tiff) in {', '.join(map(str, sources))}")
    known = known_names(spec)
    grid = None
    by_date: dict[pd.Timestamp, dict[str, tuple[xr.DataArray, Path]]] = {}
    scalings: set[str] = set()
    for path in files:
        data = _open(path)
        grid = _check_grid(data, path, grid)
        date = _date_of(path, data.attrs, options.date_pattern)
        names = _band_names(path, data, options.bands, spec)
        scaling = user_scaling(options.scale, options.offset) or attribute_scaling(data.attrs) or l2a_scaling_from_name(path.name) or Scaling()
        nodata = data.rio.nodata
        stored = drop_spatial_ref(data if nodata is None else data.where(data != nodata))
        for index, name in enumerate(names):
            band = known.get(name.lower(), name)
            values = stored.isel(band=index, drop=True)
            if band in spec.band_names:  # auxiliary classes (SCL) stay as stored
                refuse_unscaled(data.dtype, scaling, str(path))
                values = scaling.apply(values)
                scalings.add(scaling.describe())
            slot = by_date.setdefault(date, {})
            if band in slot:
                raise InputError(f"two files hold {band} on {date:%Y-%m-%d}: {slot[band][1]} and {path}; give one per date")
            slot[band] = (values, path)
    variables = _stack_dates(by_date)
    return assemble_cube(
        variables,
        spec,
        grid[0],
        reader="geotiff",
        sources=[path.name for path in files],
        units=options.units or _units(files[0]),
        extra_attrs={"scaling": sorted(scalings)},
    )


def _open(path: Path) -> xr.DataArray:
    import rioxarray

    try:
        with _quiet_gdal():
            return rioxarray.open_rasterio(path, mask_and_scale=False).load()
    except Exception as error:
        raise InputError(f"cannot read {path} as a GeoTIFF ({type(error).__name__}: {error})") from error


@contextmanager
def _quiet_gdal() -> Iterator[None]:
    """GDAL's warnings (Earth Engine exports draw libtiff's note on extra samples) off stderr:
    they say nothing the user can act on. Errors still raise.

    Inside a rasterio environment GDAL reports through the `rasterio._env` logger (outside one
    it prints to stderr itself); that logger is quieted while the files are read.
    """
    import rasterio

    logger = logging.getLogger("rasterio._env")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with rasterio.Env():
            yield
    finally:
        logger.setLevel(level)


def _check_grid(data: xr.DataArray, path: Path, grid):
    """The first file's (CRS, transform, shape); every other file must match it."""
    crs = data.rio.crs
    if crs is None:
        raise InputError(f"{path} has no CRS; a GeoTIFF needs its georeference")
    this = (crs, data.rio.transform(), data.shape[1:], path)
    if grid is None:
        return this
    if not (this[0] == grid[0] and this[1].almost_equals(grid[1]) and this[2] == grid[2]):
        raise InputError(
            f"{path} ({this[2][0]} x {this[2][1]} px, {crs.to_string()}) is not on the grid of {grid[3]} "
            f"({grid[2][0]} x {grid[2][1]} px, {grid[0].to_string()}); files of one cube share one grid: "
            "resample them onto one first (e.g. gdalwarp or rioxarray's reproject_match)"
        )
    return grid


def _date_of(path: Path, tags: dict, pattern: str | None) -> pd.Timestamp:
    if pattern is not None:
        match = re.search(pattern, path.name)
        if match is None:
            raise InputError(f"--date-pattern {pattern!r} finds no date in {path.name}")
        parts = match.groupdict()
        if all(parts.get(name) for name in ("year", "month", "day")):
            text = f"{parts['year']}-{parts['month']}-{parts['day']}"
        else:
            text = parts.get("date") or (match.group(1) if match.groups() else match.group(0))
        try:
            return pd.Timestamp(text)
        except ValueError as error:
            raise InputError(f"--date-pattern {pattern!r} finds {text!r} in {path.name}, which is not a date") from error
    for regex, form in NAME_DATES:
        match = regex.search(path.name)
        if match is not None:
            return pd.Timestamp(pd.to_datetime(match.group(1), format=form))
    for tag in DATE_TAGS:
        if tag in tags:
            return pd.Timestamp(pd.to_datetime(str(tags[tag]).replace(":", "-", 2) if tag == "TIFFTAG_DATETIME" else str(tags[tag])))
    if "system:time_start" in tags:
        return pd.Timestamp(int(tags["system:time_start"]), unit="ms")
    raise InputError(
        f"no date in the name or tags of {path.name}; name the files with their date (e.g. 2020-01-22) or pass "
        "--date-pattern, a regular expression whose first group is the date"
    )


def _band_names(path: Path, data: xr.DataArray, bands: tuple[str, ...] | None, spec: ModalitySpec) -> list[str]:
    known = known_names(spec)
    count = data.sizes["band"]
    if bands is not None:
        if len(bands) != count:
            raise InputError(f"--bands names {len(bands)} bands but {path.name} has {count}")
        return list(bands)
    descriptions = data.attrs.get("long_name")
    descriptions = [descriptions] if isinstance(descriptions, str) else list(descriptions or [])
    if len(descriptions) == count and all(str(text).lower() in known for text in descriptions):
        return descriptions
    if count == 1:
        tokens = {known[token.lower()] for token in re.split(r"[^A-Za-z0-9]+", path.stem) if token.lower() in known}
        if len(tokens) == 1:
            return [tokens.pop()]
        if len(tokens) > 1:
            raise InputError(f"{path.name} names several bands ({', '.join(sorted(tokens))}); pass --bands")
    example = spec.required_bands if len(spec.required_bands) == count else spec.band_names[:count]
    described = f"band descriptions {descriptions} name no {spec.name} band" if any(descriptions) else "no band descriptions"
    raise InputError(
        f"{path.name} has {count} band{'s' if count > 1 else ''} without names ({described}"
        f"{', no band name in the file name' if count == 1 else ''}); pass their order, e.g. --bands {','.join(example)}"
    )


def _stack_dates(by_date: dict[pd.Timestamp, dict[str, tuple[xr.DataArray, Path]]]) -> dict[str, xr.DataArray]:
    """Per band, its dates stacked along `time`; every date must hold the same bands."""
    dates = sorted(by_date)
    bands = sorted({band for slot in by_date.values() for band in slot})
    gaps = [f"{date:%Y-%m-%d} lacks {', '.join(sorted(set(bands) - set(by_date[date])))}"
            for date in dates if set(by_date[date]) != set(bands)]
    if gaps:
        raise InputError(f"every date needs the same bands ({', '.join(bands)}): {'; '.join(gaps[:5])}")
    time = xr.DataArray(np.array(dates, dtype="datetime64[ns]"), dims="time")
    return {band: xr.concat([by_date[date][band][0] for date in dates], dim=time) for band in bands}


def _units(path: Path) -> str | None:
    """The first band's unit (GDAL's band unit type), when the file declares one."""
    import rasterio

    with _quiet_gdal(), rasterio.open(path) as source:
        return source.units[0] or None
