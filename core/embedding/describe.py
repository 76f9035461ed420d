"""What an embedding store says about itself, after the emerging embedding conventions.

Two proposals describe geospatial embeddings (both "Proposal" maturity in 2026; field names
taken from their READMEs):

- the `geoemb:` Zarr convention (geo-embeddings/embeddings-zarr-convention, v1): group
  attributes `geoemb:type`, `geoemb:dimensions`, `geoemb:model`, `geoemb:source_data`,
  `geoemb:data_type`, `geoemb:gsd`, `geoemb:build_version`, `geoemb:quantization`,
  registered in `zarr_conventions`;
- the STAC embeddings extension (geo-embeddings/embeddings-stac-specification, v0.0.1):
  item properties `emb:type`, `emb:dimensions`, `data_type`, `gsd`, `emb:quantization`,
  `emb:runtime_parameters`, an asset named `embeddings`, links `emb:model` and
  `emb:source-data`.

Where cae's store goes beyond them it says so in the same objects: the int8 copy is an
extra array beside the float32 `embedding` (not a replacement), so its quantisation object
names that array, and its scale and offset are per feature (neither of the convention's
scalar nor per-pixel kinds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cae import __version__
from cae.atomic import write_bytes
from cae.embedding.store import INT8, INT8_MISSING, INT8_OFFSET, INT8_SCALE, RUN_ATTR

GEOEMB_CONVENTION = {
    "schema_url": "https://raw.githubusercontent.com/geo-embeddings/embeddings-zarr-convention/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/geo-embeddings/embeddings-zarr-convention/blob/v1/README.md",
    "uuid": "61c12cc5-0e28-4056-999a-480cf3fb7e4c",
    "name": "geoemb:",
    "description": "Geoembeddings convention for geospatial embedding arrays with model provenance",
}
STAC_EMBEDDINGS_EXTENSION = "https://stac-extensions.github.io/embeddings/v0.0.1/schema.json"
#: The paper the model follows (STAC scientific extension's field, kept as plain text here).
CITATION = "Peters et al. 2025, context-aware autoencoders for Sentinel-1/-2 image time series"


def stac_item_path(store: Path) -> Path:
    """Where `cae embed` writes the STAC item of the store `store`: beside it, `<name>.stac.json`."""
    return store.with_name(f"{store.stem}.stac.json")


def convention_attributes(features: int, model: Path, sources: list[str], gsd: float | None) -> dict[str, Any]:
    """The store's `geoemb:` group attributes (all but the quantisation, known only at the end)."""
    attributes = {
        "zarr_conventions": [GEOEMB_CONVENTION],
        "geoemb:type": "pixel",
        "geoemb:dimensions": features,
        "geoemb:model": Path(model).resolve().as_uri(),
        "geoemb:source_data": [Path(source).resolve().as_uri() for source in sources],
        "geoemb:data_type": "float32",
        "geoemb:build_version": f"cae {__version__}",
    }
    if gsd is not None:
        attributes["geoemb:gsd"] = gsd
    return attributes


def quantization(codes: str = INT8, scale: str = INT8_SCALE, offset: str = INT8_OFFSET,
                 missing: int = INT8_MISSING) -> dict[str, Any]:
    """The `geoemb:quantization` object of the int8 copy `codes`: value = codes * scale + offset,
    with `scale` and `offset` arrays of one value per feature."""
    return {
        "method": "linear",
        "original_dtype": "float32",
        "quantized_dtype": "int8",
        "scale": {"type": "array", "array_name": scale, "offset_array_name": offset, "per": "feature"},
        "quantized_array": codes,
        "quantized_nodata": missing,
    }


def stac_item(dataset: xr.Dataset, store: Path):
    """A pystac Item describing the finished store `dataset`, to be published at `store`.

    Its bbox and geometry are the store's footprint in WGS 84 (none for a store without a
    CRS), its datetime the range of the store's dates, its `proj:` fields the store's own
    grid. The embeddings asset is relative to the item, so the pair can be moved together;
    so are links to inputs in the same folder, others are absolute paths.
    """
    import pystac
    from pystac.extensions.projection import ProjectionExtension
    from rasterio.warp import transform_geom

    from cae.cube.grid import crs_label, crs_of

    attributes = dataset.attrs
    crs = crs_of(dataset)
    left, bottom, right, top = dataset.rio.bounds()
    geometry = bbox = None
    if crs is not None:
        footprint = {"type": "Polygon",
                     "coordinates": [[[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]]}
        geometry = transform_geom(crs.to_wkt(), "EPSG:4326", footprint, antimeridian_cutting=True, precision=7)
        points = np.array(geometry["coordinates"][0])
        bbox = [float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())]
    times = pd.DatetimeIndex(dataset["time"].values)
    properties: dict[str, Any] = {
        "title": f"cae embedding {store.name}",
        "start_datetime": _iso(times[0]),
        "end_datetime": _iso(times[-1]),
        "emb:type": attributes["geoemb:type"],
        "emb:dimensions": attributes["geoemb:dimensions"],
        "data_type": attributes["geoemb:data_type"],
        "emb:runtime_parameters": {
            key: attributes[RUN_ATTR][key] for key in ("path", "precision", "series_ends") if key in attributes[RUN_ATTR]
        },
        "cae:citation": CITATION,
        "cae:version": __version__,
    }
    if "geoemb:gsd" in attributes:
        properties["gsd"] = attributes["geoemb:gsd"]
    if INT8_SCALE in dataset:
        properties["emb:quantization"] = {
            "method": "linear",
            "original_dtype": "float32",
            "quantized_dtype": "int8",
            "scale": [float(value) for value in dataset[INT8_SCALE].values],
            "offset": [float(value) for value in dataset[INT8_OFFSET].values],
        }
    item = pystac.Item(
        id=store.stem,
        geometry=geometry,
        bbox=bbox,
        datetime=None,
        properties=properties,
        stac_extensions=[STAC_EMBEDDINGS_EXTENSION],
    )
    if crs is not None:
        projection = ProjectionExtension.ext(item, add_if_missing=True)
        label = crs_label(crs)
        if label.startswith("EPSG:"):
            projection.code = label
        else:
            projection.wkt2 = crs.to_wkt()
        projection.shape = [dataset.sizes["y"], dataset.sizes["x"]]
        projection.transform = list(dataset.rio.transform())[:6]
        projection.bbox = [left, bottom, right, top]
    item.add_asset("embeddings", pystac.Asset(
        href=f"./{store.name}",
        media_type="application/vnd+zarr",
        roles=["data"],
        title="fused embedding: embedding(feature, time, y, x), float32, NaN where none",
    ))
    item.add_link(pystac.Link("emb:model", _relative(attributes["geoemb:model"], store), title="cae fusion run folder"))
    for source in attributes["geoemb:source_data"]:
        item.add_link(pystac.Link("emb:source-data", _relative(source, store), title="input cube"))
    return item


def write_stac_item(dataset: xr.Dataset, store: Path) -> Path:
    """Write the store's STAC item beside `store`, atomically; returns its path."""
    path = stac_item_path(store)
    document = stac_item(dataset, store).to_dict(include_self_link=False, transform_hrefs=False)
    write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())
    return path


def _iso(time: pd.Timestamp) -> str:
    return time.tz_localize("UTC").isoformat().replace("+00:00", "Z") if time.tzinfo is None else time.isoformat()


def _relative(uri: str, store: Path) -> str:
    """The file `uri` relative to the folder of the store and its item when it lies inside
    that folder (they move together), else its absolute path."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    path, folder = Path(url2pathname(urlparse(uri).path)), store.resolve().parent
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)


def pixel_metres(layout: xr.Dataset) -> float | None:
    """The side of a square pixel in metres, or None (no CRS, not in metres, not square)."""
    from cae.cube.grid import crs_of, resolution_of

    crs = crs_of(layout)
    x, y = resolution_of(layout)
    metres = crs is not None and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter")
    return float(x) if metres and np.isclose(x, y) else None
