"""The last step of every reader: named bands on one grid -> a cube as cae stores it."""

from __future__ import annotations

import xarray as xr

from cae.cube.aliases import known_names
from cae.cube.grid import north_up, with_crs
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec


def assemble_cube(
    variables: dict[str, xr.DataArray],
    spec: ModalitySpec,
    crs,
    *,
    reader: str,
    sources: list[str],
    units: str | None = None,
    extra_attrs: dict | None = None,
) -> xr.Dataset:
    """Bands (dims time, y, x; already under the plugin's names) -> a cube of `spec`.

    Only the plugin's bands and auxiliary variables are kept, in its order, bands as float32
    and auxiliary classes (SCL) as uint8 with 0 for no data. Nothing absent is invented:
    a Sentinel-1 source with VH only gives a VH-only cube.
    """
    bands = spec.bands_in(list(variables))
    auxiliary = [band.name for band in spec.auxiliary if band.name in variables]
    if not bands:
        spellings = sorted({name for name in known_names(spec).values()})
        raise InputError(
            f"no {spec.name} band among {', '.join(sorted(variables)) or 'no variable'} "
            f"(read by the {reader} reader from {', '.join(sources[:3])}{' ...' if len(sources) > 3 else ''}); "
            f"{spec.name} bands are {', '.join(spellings)} or their aliases (`cae modalities`)"
        )
    # Each source's own grid mapping (openEO's `crs`), attributes and encoding go: the cube gets one CRS below.
    plain = {name: _bare(data) for name, data in variables.items()}
    cube = xr.Dataset({name: plain[name].astype("float32") for name in bands})
    for name in auxiliary:  # classes keep what describes them (a cloud mask's method and flags)
        cube[name] = plain[name].fillna(0).astype("uint8").assign_attrs(variables[name].attrs)
    for name in bands:  # a unit given wins; a unit the source declares stays (an S1 band in dB)
        declared = variables[name].attrs.get("units")
        cube[name].attrs = {"units": units} if units else {"units": declared} if declared else {}
    cube = cube.assign_coords(time=cube["time"].values.astype("datetime64[ns]")).sortby("time")
    cube = with_crs(north_up(cube), crs)
    cube.attrs = {
        "modality": spec.name,
        "bands": list(bands),
        "reader": reader,
        "sources": sources,
        **({"units": units} if units else {}),
        **(extra_attrs or {}),
    }
    return cube


def _bare(data: xr.DataArray) -> xr.DataArray:
    bare = data.reset_coords(drop=True).drop_encoding().copy(deep=False)
    bare.attrs = {}
    return bare


def drop_spatial_ref(data: xr.DataArray) -> xr.DataArray:
    """A band without the grid-mapping and band coordinates its reader attached (the cube gets one CRS)."""
    return data.drop_vars([name for name in ("spatial_ref", "band") if name in data.coords])

