"""The real Romania cube written out in other tools' layouts, for round trips through the readers.

Each writer keeps the digital numbers the cube came from (reflectance x 10000, exact for this
cube), so what the readers give back can be compared value for value.
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from cae.cube.grid import crs_of

EARTH_SEARCH = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B8A": "nir08", "B11": "swir16", "SCL": "scl"}
PLANETARY_COMPUTER = {band: band for band in EARTH_SEARCH}


def romania_crop(romania_s2: xr.Dataset, dates: int = 16, size: int = 40) -> xr.Dataset:
    """The first `dates` dates and a `size` x `size` px corner of the bundled real cube."""
    return romania_s2.isel(time=slice(0, dates), y=slice(0, size), x=slice(0, size))


def digital_numbers(band: xr.DataArray, boa_offset: int) -> xr.DataArray:
    """Reflectance -> L2A DN as stored (0 = no data), with BOA_ADD_OFFSET added from baseline 04.00."""
    numbers = (band * 10000).round() + boa_offset
    return numbers.where(band.notnull(), 0).astype("uint16")


def write_cogs(cube: xr.Dataset, folder: Path, names: dict[str, str], baseline: str) -> dict[str, dict[str, Path]]:
    """One COG per date and band, named like an L2A product (`..._MSIL2A_<date>_N<baseline>_..._<name>.tif`)."""
    offset = 1000 if float(baseline) >= 4 else 0
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for time in cube["time"].values:
        stamp = pd.Timestamp(time)
        product = f"S2A_MSIL2A_{stamp:%Y%m%dT%H%M%S}_N{baseline.replace('.', '')}_R036_T34TGR"
        for band, name in names.items():
            data = cube[band].sel(time=time)
            stored = data.fillna(0).astype("uint8") if band == "SCL" else digital_numbers(data, offset)
            path = folder / f"{product}_{name}.tif"
            stored.rio.write_nodata(0).rio.to_raster(path, driver="COG")
            written.setdefault(product, {})[name] = path
    return written


def stac_items(cube: xr.Dataset, cogs: dict[str, dict[str, Path]], folder: Path, baseline: str, raster_offset: float):
    """pystac items for the COGs: projection and raster extensions as Earth Search writes them."""
    import pystac
    import rasterio
    from pyproj import Transformer
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.raster import RasterExtension

    crs = crs_of(cube)
    left, bottom, right, top = cube.rio.bounds()
    west, south, east, north = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(left, bottom, right, top)
    geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]}
    transform = list(cube.rio.transform())[:6]
    with rasterio.open(next(iter(next(iter(cogs.values())).values()))) as written:
        epsg = written.crs.to_epsg()  # what the files say, as a catalogue's items do
    items = []
    for (product, assets), time in zip(cogs.items(), cube["time"].values):
        stamp = pd.Timestamp(time).to_pydatetime().replace(tzinfo=timezone.utc)
        item = pystac.Item(product, geometry, [west, south, east, north], stamp, {"s2:processing_baseline": baseline})
        projection = ProjectionExtension.ext(item, add_if_missing=True)
        projection.epsg, projection.shape, projection.transform = epsg, [cube.sizes["y"], cube.sizes["x"]], transform
        RasterExtension.add_to(item)
        for name, path in assets.items():
            raster = {"nodata": 0, "data_type": "uint8" if name.lower() == "scl" else "uint16"}
            if name.lower() != "scl":
                raster.update(scale=0.0001, offset=raster_offset)
            href = str(Path(path).relative_to(folder))  # relative, as a saved search with local copies has them
            asset = pystac.Asset(href, media_type=pystac.MediaType.COG, roles=["data"], extra_fields={"raster:bands": [raster]})
            item.add_asset(name, asset)
            on_asset = ProjectionExtension.ext(asset)  # per asset, as Earth Search writes it (bands differ in resolution)
            on_asset.epsg, on_asset.shape, on_asset.transform = epsg, projection.shape, projection.transform
        items.append(item)
    return items


def openeo_netcdf(cube: xr.Dataset, path: Path) -> Path:
    """The cube as openEO's save_result writes NetCDF: dims (t, y, x), one variable per band in
    lower case, a `crs` grid-mapping variable."""
    bands = [name for name in cube.data_vars if name != "SCL"]
    renamed = cube[bands + ["SCL"]].rename({name: name.lower() for name in [*bands, "SCL"]}).rename({"time": "t"})
    wkt = crs_of(cube).to_wkt()
    renamed = renamed.drop_vars("spatial_ref").assign(crs=xr.DataArray(np.int8(0), attrs={"crs_wkt": wkt, "spatial_ref": wkt}))
    for name in renamed.data_vars:
        if name != "crs":
            renamed[name].attrs = {"grid_mapping": "crs"}
    renamed.attrs = {"Conventions": "CF-1.9", "institution": "openEO platform"}
    renamed.to_netcdf(path)
    return path
