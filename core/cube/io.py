"""Reading and writing cubes: xarray Datasets (time, y, x) on disk as zarr or NetCDF."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from cae.cube.grid import north_up
from cae.errors import InputError

#: Variables that hold a CRS in the CF convention (`crs_wkt`) or GDAL's (`spatial_ref`).
GRID_MAPPING_NAMES = ("spatial_ref", "crs")


def is_zarr(path: Path) -> bool:
    return path.suffix == ".zarr" or (path / "zarr.json").exists() or (path / ".zgroup").exists()


#: File names a NetCDF cube may have (anything else is refused with a pointer to the readers).
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".h5", ".hdf5")


def open_cube(path: str | os.PathLike) -> xr.Dataset:
    """Open a cube lazily, north up, and make its grid-mapping variable a coordinate.

    A grid mapping stored as a data variable (as in many NetCDF files) would otherwise look
    like a band; as a coordinate it travels with every band and rioxarray finds the CRS.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no cube at {path}")
    if path.is_dir() and not is_zarr(path):
        raise InputError(
            f"{path} is a folder but not a zarr store (no zarr.json or .zgroup in it): a cube is a zarr store or a "
            "NetCDF file; build one from raw files with `cae cube build`"
        )
    if not path.is_dir() and path.suffix.lower() not in NETCDF_SUFFIXES:
        raise InputError(
            f"{path} is not a cube: a cube is a zarr store or a NetCDF file ({', '.join(NETCDF_SUFFIXES)}); "
            "build one from raw files (e.g. GeoTIFFs) with `cae cube build`"
        )
    try:
        cube = xr.open_zarr(path, consolidated=False) if path.is_dir() else xr.open_dataset(path)
    except Exception as error:
        damaged = "" if path.is_dir() else "; the file is damaged or truncated, or not NetCDF"
        raise InputError(f"cannot read cube {path} ({type(error).__name__}: {error}){damaged}") from error
    grid_mappings = {name for name in GRID_MAPPING_NAMES if name in cube.data_vars}
    grid_mappings |= {
        cube[name].attrs["grid_mapping"]
        for name in cube.data_vars
        if cube[name].attrs.get("grid_mapping") in cube.data_vars
    }
    cube = cube.set_coords(sorted(grid_mappings))
    return north_up(cube)


#: Packages that decode stored bytes: an error raised inside them means a damaged file.
_STORAGE_PACKAGES = ("zarr", "numcodecs", "netCDF4", "h5netcdf", "h5py", "rasterio", "xarray.backends")


@contextmanager
def reading(source: str | os.PathLike) -> Iterator[None]:
    """Report a damaged cube file (truncated chunk, corrupt compression) as bad input.

    Cubes are read lazily, so such errors surface wherever values are first computed.
    Only errors raised while decoding stored data are translated: a bug elsewhere stays
    an internal error, with its traceback under --debug.
    """
    try:
        yield
    except InputError:
        raise
    except Exception as error:
        if not _raised_by_storage(error):
            raise
        raise InputError(
            f"cannot read the data of {source} ({type(error).__name__}: {error}): a chunk or the file is "
            "truncated or corrupt; rebuild the cube (`cae cube build`) or copy it again"
        ) from error


def _raised_by_storage(error: BaseException) -> bool:
    trace = error.__traceback__
    while trace is not None:
        module = trace.tb_frame.f_globals.get("__name__", "")
        if any(module == name or module.startswith(name + ".") for name in _STORAGE_PACKAGES):
            return True
        trace = trace.tb_next
    return False


#: Chunk sizes on disk; -1 means the whole dimension in one chunk.
DEFAULT_CHUNKS = {"time": 32, "y": 256, "x": 256}


def write_cube(
    cube: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    chunks: dict[str, int] | None = None,
) -> Path:
    """Write a cube as a compressed zarr store, atomically.

    The store is written beside its destination and renamed into place only when complete,
    so an interrupted write never leaves a half-written cube under the final name. The CRS
    is stored the CF way (a grid-mapping coordinate each band names in `grid_mapping`) and
    the metadata consolidated, so plain `xarray.open_zarr` with rioxarray reads the cube
    georeferenced and without warnings, not only `open_cube`.
    """
    chunks = {**DEFAULT_CHUNKS, **(chunks or {})}
    from zarr.codecs import BloscCodec

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    compressor = BloscCodec(cname="zstd", clevel=9, shuffle="shuffle")
    kept = ("dtype", "scale_factor", "add_offset", "_FillValue", "units", "calendar")
    encoding = {}
    for name, variable in cube.data_vars.items():
        if variable.ndim == 0:
            continue
        shape = [
            size if chunks.get(dim, -1) == -1 else min(size, chunks[dim])
            for dim, size in variable.sizes.items()
        ]
        encoding[name] = {key: variable.encoding[key] for key in kept if key in variable.encoding}
        encoding[name].update(compressors=(compressor,), chunks=tuple(shape))
    # The source's own chunking (a cube written by plain `to_zarr`, then cropped) must not
    # fight the writer's: its encoding goes, and lazy data is rechunked to the stored chunks.
    cube = cube.drop_encoding()
    cube, grid_mapping = _grid_mapping_as_coordinate(cube)
    if grid_mapping is not None:
        for name, variable in cube.data_vars.items():
            if {"y", "x"} <= set(variable.dims):
                encoding.setdefault(name, {})["grid_mapping"] = grid_mapping
                cube[name].attrs.pop("grid_mapping", None)
    if any(variable.chunks for variable in cube.data_vars.values()):
        cube = cube.chunk({dim: -1 if chunks.get(dim, -1) == -1 else min(size, chunks[dim]) for dim, size in cube.sizes.items()})
    try:
        with warnings.catch_warnings():
            # zarr says consolidated metadata is not (yet) in the v3 spec; xarray reads it, and
            # without it plain `xarray.open_zarr` warns on every open instead.
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            cube.to_zarr(staging, mode="w", encoding=encoding, consolidated=True, zarr_format=3)
        if path.exists():
            retired = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            path.rename(retired)
            staging.rename(path)
            shutil.rmtree(retired) if retired.is_dir() else retired.unlink()
        else:
            staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return path


def _grid_mapping_as_coordinate(cube: xr.Dataset) -> tuple[xr.Dataset, str | None]:
    """The cube with its grid-mapping variable as a coordinate, and that variable's name.

    Each band then names it in its CF `grid_mapping` attribute on disk, so plain
    `xarray.open_zarr` plus rioxarray finds the CRS, not only `open_cube`.
    """
    named = {cube[name].attrs.get("grid_mapping") for name in cube.data_vars} - {None}
    candidates = [name for name in (*sorted(named), *GRID_MAPPING_NAMES) if name in cube.variables]
    if not candidates:
        return cube, None
    return cube.set_coords(candidates[0]), candidates[0]
