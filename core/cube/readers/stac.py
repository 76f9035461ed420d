"""A STAC item collection or catalog saved on disk -> a cube, loaded with odc-stac.

A search result saved to JSON (`pystac_client`'s `item_collection().save_object(...)`, the
Earth Search or Planetary Computer API's response) or a static catalog is read with pystac;
asset hrefs may be local (relative to the JSON) or remote (read through GDAL).

Why odc-stac rather than stackstac: odc-stac builds the output grid from the items' own
projection extension (odc-geo's GeoBox, at the assets' native CRS and resolution, pixel
aligned), reads with rasterio and keeps the assets' native dtype and nodata, so digital numbers
arrive as stored and are scaled here once; stackstac defaults to float64 with NaN fill and
rescales on its own, and needs the CRS and resolution spelled out whenever items lack them.

Items are grouped by solar day (odc-stac's grouping), so the tiles of one pass make one date.
Asset keys are matched to the plugin's bands through its aliases (Earth Search `red`..`scl`,
Planetary Computer `B04`..`SCL`). Each item's digital numbers are scaled by, in this order:
`--scale/--offset`; the Sentinel-2 L2A rule from the item's processing baseline
(`s2:processing_baseline`, `sentinel:processing_baseline`), minus nothing when the provider
says it already applied BOA_ADD_OFFSET (`earthsearch:boa_offset_applied`: Earth Search's
`raster:bands` offset has been found wrong where this flag is right, Element84/earth-search#9);
the asset's raster extension (`raster:bands` scale and offset).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr

from cae.cube.aliases import known_names
from cae.cube.readers.assemble import assemble_cube, drop_spatial_ref
from cae.cube.readers.options import ReadOptions
from cae.cube.readers.scaling import Scaling, l2a_scaling, refuse_unscaled, user_scaling
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec

BASELINE_PROPERTIES = ("s2:processing_baseline", "sentinel:processing_baseline")
OFFSET_APPLIED_PROPERTIES = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")


def load_items(path: Path) -> list:
    """The items of an item collection (a FeatureCollection) or of a catalog/collection, hrefs made absolute."""
    import json

    import pystac

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path} as JSON ({error})") from error
    kind = document.get("type") if isinstance(document, dict) else None
    if kind == "FeatureCollection":
        items = list(pystac.ItemCollection.from_dict(document, preserve_dict=False))
    elif kind in ("Catalog", "Collection"):
        items = list(pystac.read_file(str(path.resolve())).get_items(recursive=True))
    elif kind == "Feature":
        items = [pystac.Item.from_dict(document)]
    else:
        raise InputError(f"{path} is JSON but not STAC (type {kind!r}; expected FeatureCollection, Catalog, Collection or Feature)")
    if not items:
        raise InputError(f"{path} holds no STAC item")
    for item in items:
        for asset in item.assets.values():
            if "://" not in asset.href and not Path(asset.href).is_absolute():
                asset.href = str((path.parent / asset.href).resolve())
    return items


def read_stac(path: Path, spec: ModalitySpec, options: ReadOptions) -> xr.Dataset:
    """The items of `path` -> a cube of `spec` on their native grid (see the module docstring)."""
    import odc.stac
    from rasterio.errors import NotGeoreferencedWarning

    items = load_items(path)
    assets = _band_assets(items, spec)
    if not assets:
        keys = sorted({key for item in items for key in item.assets})
        raise InputError(f"no asset of {path} names a {spec.name} band (assets: {', '.join(keys)}); `cae modalities` lists the bands")
    days: dict[int, object] = {}

    def solar_day(item, parsed, index: int):
        """odc-stac's solar-day grouping (the tiles of one pass make one date), recorded per item."""
        days[index] = parsed.solar_date.date()
        return days[index]

    try:
        with warnings.catch_warnings():
            # rasterio's note when odc-stac warps an asset onto the output grid: not the user's business.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            loaded = odc.stac.load(items, bands=list(assets.values()), groupby=solar_day, anchor=_native_anchor(items, assets)).load()
    except Exception as error:
        raise InputError(f"odc-stac cannot load the items of {path} ({type(error).__name__}: {error})") from error
    loaded = loaded.rename({"longitude": "x", "latitude": "y"}) if "longitude" in loaded.dims else loaded
    # odc-stac orders the dates by their group key: the n-th date holds the items of the n-th day.
    passes = [[items[index] for index, day in days.items() if day == key] for key in sorted(set(days.values()))]
    given = user_scaling(options.scale, options.offset)
    variables, described = {}, set()
    for band, key in assets.items():
        data = drop_spatial_ref(loaded[key])
        nodata = data.attrs.get("nodata")
        masked = data if nodata is None else data.where(data != nodata)
        if band not in spec.band_names:  # auxiliary classes (SCL) stay as stored
            variables[band] = masked
            continue
        scalings = [given or _pass_scaling(group, key) for group in passes]
        for scaling in scalings:
            refuse_unscaled(data.dtype, scaling, f"{path}: asset {key}")
        described |= {scaling.describe() for scaling in scalings}
        time = loaded["time"]
        scale = xr.DataArray([s.scale for s in scalings], coords={"time": time})
        offset = xr.DataArray([s.offset for s in scalings], coords={"time": time})
        variables[band] = (masked.astype("float64") * scale + offset).astype("float32")
    return assemble_cube(
        variables,
        spec,
        loaded.odc.geobox.crs.to_wkt(),
        reader="stac (odc-stac)",
        sources=[path.name],
        units=options.units,
        extra_attrs={"scaling": sorted(described), "stac_items": [item.id for item in items]},
    )


def _native_anchor(items: list, assets: dict[str, str]):
    """Snap the output grid to the assets' own pixel edges, not to multiples of the pixel size.

    Real Sentinel-2 tiles lie on multiples of 10 m, where both agree; a grid shifted off them
    (a cube reprojected by its maker, then exported) would otherwise be resampled by a fraction
    of a pixel. None (odc-stac's default) where the items carry no projection extension.
    """
    from odc.geo import xy_

    asset = items[0].assets[next(iter(assets.values()))]
    transform = asset.extra_fields.get("proj:transform") or items[0].properties.get("proj:transform")
    if not transform:
        return None
    width, left, height, top = transform[0], transform[2], transform[4], transform[5]
    return xy_((left / abs(width)) % 1.0, (top / abs(height)) % 1.0)


def _band_assets(items: list, spec: ModalitySpec) -> dict[str, str]:
    """Band (plugin name) -> the asset key that holds it, over all items."""
    known = known_names(spec)
    found: dict[str, str] = {}
    for item in items:
        for key, asset in item.assets.items():
            names = [key] + [band.get(field, "") for band in asset.extra_fields.get("eo:bands", []) for field in ("name", "common_name")]
            band = next((known[name.lower()] for name in names if name and name.lower() in known), None)
            if band is not None and found.setdefault(band, key) != key:
                raise InputError(f"assets {found[band]} and {key} both hold {band}; keep one")
    return found


def _pass_scaling(items: list, key: str) -> Scaling:
    """How the asset `key` of the items merged into one date is scaled; they must agree."""
    scalings = {_scaling_of(item, key) for item in items}
    if len(scalings) > 1:
        raise InputError(f"items {', '.join(item.id for item in items)} form one date but declare different scales for {key}: "
                         f"{'; '.join(sorted(s.describe() for s in scalings))}")
    return scalings.pop()


def _scaling_of(item, key: str) -> Scaling:
    properties = item.properties
    baseline = next((properties[name] for name in BASELINE_PROPERTIES if properties.get(name) is not None), None)
    if baseline is not None:
        applied = any(bool(properties.get(name)) for name in OFFSET_APPLIED_PROPERTIES)
        return l2a_scaling(float(baseline), "STAC item properties", offset_applied=applied)
    bands = item.assets[key].extra_fields.get("raster:bands") or [{}]
    scale, offset = bands[0].get("scale"), bands[0].get("offset")
    if scale is None and offset is None:
        return Scaling()
    return Scaling(float(1.0 if scale is None else scale), float(offset or 0.0), "raster:bands of the STAC asset")

