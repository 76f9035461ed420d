"""Readers for the layouts users have: one entry point, `read_sources`, picks the reader.

| reader | sources | module |
|---|---|---|
| stac | a STAC item collection, catalog or item saved as JSON | `stac` (odc-stac) |
| dataset | a zarr store, or a NetCDF file in another tool's layout (band dim, `t`, lat/lon) | `dataset` |
| sensor | the modality's own raw files (`ModalitySpec.raw_files`, read by its `build_cube`) | the plugin |
| geotiff | GeoTIFF/COG files, folders or globs of them | `geotiff` (rioxarray) |
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from cae.cube.io import NETCDF_SUFFIXES, is_zarr
from cae.cube.readers.geotiff import SUFFIXES as GEOTIFF_SUFFIXES
from cae.cube.readers.geotiff import glob_matches, is_glob
from cae.cube.readers.options import ReadOptions
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec

__all__ = ["READERS", "ReadOptions", "read_sources", "reader_for"]

READERS = ("stac", "dataset", "sensor", "geotiff")
#: The options each reader uses; any other option given is refused, never ignored.
USES = {
    "stac": {"--scale", "--offset", "--units"},
    "dataset": {"--bands", "--scale", "--offset", "--units"},
    "sensor": set(),
    "geotiff": {"--bands", "--date-pattern", "--scale", "--offset", "--units"},
}


def read_sources(sources: Sequence[Path], spec: ModalitySpec, options: ReadOptions = ReadOptions()) -> xr.Dataset:
    """The sources of one place -> a cube of `spec`, read by the reader their layout asks for."""
    reader = reader_for(sources, spec)
    unused = [option for option in options.given() if option not in USES[reader]]
    if unused:
        raise InputError(f"{', '.join(unused)} cannot apply to the {reader} reader, which reads {', '.join(map(str, sources))}")
    if reader == "stac":
        from cae.cube.readers.stac import read_stac

        return read_stac(Path(sources[0]), spec, options)
    if reader == "dataset":
        from cae.cube.readers.dataset import read_dataset

        return read_dataset(Path(sources[0]), spec, options)
    if reader == "sensor":
        return spec.build_cube(list(sources))
    from cae.cube.readers.geotiff import read_geotiffs

    return read_geotiffs(sources, spec, options)


def reader_for(sources: Sequence[Path], spec: ModalitySpec) -> str:
    """Which reader the sources' layout asks for; an InputError naming what was found otherwise."""
    from cae.cube.readers.dataset import is_foreign_layout

    if not sources:
        raise InputError("no source given")
    missing = [str(path) for path in sources if not is_glob(Path(path)) and not Path(path).exists()]
    if missing:
        raise InputError(f"not found: {', '.join(missing)}")
    paths = [Path(path) for path in sources]
    one = len(paths) == 1
    if one and paths[0].suffix.lower() == ".json":
        return "stac"
    stores = [path for path in paths if is_zarr(path) or path.suffix.lower() in NETCDF_SUFFIXES]
    if one and stores and is_foreign_layout(paths[0]):
        return "dataset"
    files = _files(paths)
    if spec.build_cube is not None and files and all(_is_raw(path, spec) for path in files):
        return "sensor"
    if one and stores:
        return "dataset"
    if files and len(stores) == 0 and all(path.suffix.lower() in GEOTIFF_SUFFIXES for path in files):
        return "geotiff"
    raise InputError(f"no reader for {_found(paths)}; {describe_readers(spec)}")


def describe_readers(spec: ModalitySpec) -> str:
    """The layouts `cae cube build` reads, for messages."""
    raw = f"the {spec.name} plugin's own files ({', '.join(spec.raw_files)})" if spec.build_cube and spec.raw_files else None
    layouts = [
        "one STAC item collection or catalog (.json, reader stac)",
        "one zarr store or NetCDF file (reader dataset)",
        *([f"{raw} (reader sensor)"] if raw else []),
        "GeoTIFF/COG files, their folders or a glob (reader geotiff)",
    ]
    return "cae cube build reads " + "; ".join(layouts)


def _files(paths: list[Path]) -> list[Path]:
    """The raster files inside the sources (folders searched recursively, globs expanded)."""
    files = []
    for path in paths:
        if is_glob(path):
            files += glob_matches(path)
        elif path.is_dir() and not is_zarr(path):
            files += sorted(item for item in path.rglob("*") if item.is_file() and not item.name.startswith("."))
        else:
            files.append(path)
    return [path for path in files if path.suffix.lower() in (*GEOTIFF_SUFFIXES, *NETCDF_SUFFIXES) or is_zarr(path)]


def _is_raw(path: Path, spec: ModalitySpec) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in spec.raw_files)


def _found(paths: list[Path]) -> str:
    """What the sources hold: how many files of which kinds."""
    files = [item for path in paths for item in (glob_matches(path) if is_glob(path) else path.rglob("*") if path.is_dir() else [path])
             if item.is_file()]
    counts: dict[str, int] = {}
    for item in files:
        counts[item.suffix.lower() or "no suffix"] = counts.get(item.suffix.lower() or "no suffix", 0) + 1
    kinds = ", ".join(f"{count} {suffix}" for suffix, count in sorted(counts.items())) or "no file"
    return f"{', '.join(map(str, paths[:3]))}{' ...' if len(paths) > 3 else ''} (found: {kinds})"
