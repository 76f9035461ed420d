"""Any xarray dataset (zarr or NetCDF) in the layouts other tools write, normalised to cae's.

- stackstac / odc-stac saved to disk: one variable with a `band` dimension, band names as
  its coordinate;
- openEO: time as `t`, a `bands` dimension or one variable per band, a `crs` grid mapping;
- xcube and other geographic cubes: `lat`/`lon` dimensions (EPSG:4326 where no CRS is given).

Bands are renamed through the plugin's aliases, scaled as declared (xarray decodes CF
`scale_factor`/`add_offset` on opening; `--scale/--offset` override) and refused as integers
with no known scale.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from pyproj import CRS

from cae.cube.aliases import canonical_names
from cae.cube.grid import crs_of
from cae.cube.io import is_zarr, open_cube
from cae.cube.readers.assemble import assemble_cube
from cae.cube.readers.options import ReadOptions
from cae.cube.readers.scaling import Scaling, refuse_unscaled, user_scaling
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec

#: Dimension names of other tools -> cae's.
DIMENSIONS = {"t": "time", "lat": "y", "latitude": "y", "lon": "x", "longitude": "x"}
BAND_DIMENSIONS = ("band", "bands")
#: Dimensions that mark a dataset as another tool's layout rather than a sensor's own files.
FOREIGN_DIMENSIONS = (*DIMENSIONS, *BAND_DIMENSIONS)


def is_foreign_layout(path: Path) -> bool:
    """True for a zarr store, or a NetCDF file with a band, `t` or lat/lon dimension."""
    if path.is_dir():
        return is_zarr(path)
    with xr.open_dataset(path) as dataset:
        return any(dim in dataset.dims for dim in FOREIGN_DIMENSIONS)


def read_dataset(path: Path, spec: ModalitySpec, options: ReadOptions) -> xr.Dataset:
    """One zarr store or NetCDF file -> a cube of `spec` (see the module docstring)."""
    dataset = open_cube(path)
    geographic = any(dim in dataset.dims for dim in ("lat", "latitude", "lon", "longitude"))
    dataset = dataset.rename({old: new for old, new in DIMENSIONS.items() if old in dataset.dims})
    missing = [dim for dim in ("time", "y", "x") if dim not in dataset.dims]
    if missing:
        raise InputError(
            f"{path} has dims {tuple(dataset.dims)}; a cube needs time (or t), y and x (or lat and lon); "
            f"missing: {', '.join(missing)}"
        )
    variables = _split_bands(dataset, options.bands, path)
    names = canonical_names(variables, spec)
    given = user_scaling(options.scale, options.offset)
    bands: dict[str, xr.DataArray] = {}
    for variable, band in names.items():
        data = variables[variable]
        if band in spec.band_names:
            scaling = given or _decoded_scaling(data)
            refuse_unscaled(data.dtype, scaling, f"{path}: {variable}")
            data = scaling.apply(data)
        bands[band] = data.transpose("time", "y", "x").drop_vars(
            [name for name in data.coords if name not in ("time", "y", "x")]
        )
    crs = crs_of(dataset)
    if crs is None and geographic:
        crs = CRS.from_epsg(4326)
    if crs is None:
        raise InputError(f"{path} has no CRS (no grid-mapping variable) and no lat/lon dimensions")
    return assemble_cube(
        bands,
        spec,
        crs,
        reader="dataset",
        sources=[path.name],
        units=options.units,
        extra_attrs={"scaling": given.describe() if given else "as decoded by xarray (CF scale_factor/add_offset)"},
    )


def _split_bands(dataset: xr.Dataset, bands: tuple[str, ...] | None, path: Path) -> dict[str, xr.DataArray]:
    """Every variable, a variable with a band dimension split into one per band."""
    variables: dict[str, xr.DataArray] = {}
    for name, data in dataset.data_vars.items():
        dim = next((dim for dim in BAND_DIMENSIONS if dim in data.dims), None)
        if dim is None:
            variables[str(name)] = data
            continue
        labels = [str(label) for label in data[dim].values] if dim in data.coords else None
        if bands is not None:
            if len(bands) != data.sizes[dim]:
                raise InputError(f"--bands names {len(bands)} bands but {path}: {name} has {data.sizes[dim]}")
            labels = list(bands)
        if labels is None or all(label.isdigit() for label in labels):
            raise InputError(f"{path}: {name} keeps {data.sizes[dim]} bands along {dim} without names; pass --bands")
        for index, label in enumerate(labels):
            variables[label] = data.isel({dim: index}, drop=True)
    return variables


def _decoded_scaling(data: xr.DataArray) -> Scaling:
    """What xarray applied on opening (CF scale_factor/add_offset), as a `Scaling`; floats need none."""
    scale = data.encoding.get("scale_factor")
    offset = data.encoding.get("add_offset")
    if scale is None and offset is None:
        return Scaling(declared_by="floating-point values" if data.dtype.kind == "f" else "")
    return Scaling(declared_by="decoded by xarray")
