"""The output store of `cae embed`: a zarr written chunk by chunk, resumable, atomic as a whole.

The store is built at `OUT.partial` beside `OUT`: first its layout (coordinates, CRS,
attributes, empty arrays whose unwritten chunks read as NaN), then one processing chunk at
a time, each aligned with the store's own chunks so that writers never share a file. A
chunk counts as finished only once its marker file exists, written after its data; a rerun
after a kill redoes at most the chunks that had no marker. When every chunk is finished,
the partial store is renamed to `OUT`: a store at `OUT` is always complete. The layout, too,
is written aside and renamed into place, so a kill never leaves a partial store that does
not open.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cae.errors import InputError

#: Inside a partial store: one empty file per finished chunk.
PROGRESS_DIR = ".cae-progress"
#: The store attribute that identifies the run a partial store belongs to.
RUN_ATTR = "cae_embed_run"
#: The int8 copy (`add_int8_copy`): its codes, and the per-feature scale and offset.
INT8, INT8_SCALE, INT8_OFFSET = "embedding_int8", "embedding_int8_scale", "embedding_int8_offset"
#: The int8 code of a pixel-date without an embedding; real values use -127..127.
INT8_MISSING = -128


def open_store(path: Path) -> xr.Dataset:
    """A store written by `cae embed` (or one being finished), lazily, with its CRS."""
    if not Path(path).exists():
        raise InputError(f"no embedding store at {path}")
    try:
        with warnings.catch_warnings():  # a partial store's progress folder is no zarr array
            warnings.filterwarnings("ignore", message=f"Object at {PROGRESS_DIR} is not recognized")
            dataset = xr.open_zarr(path, consolidated=False, decode_coords="all")
    except Exception as error:
        raise InputError(f"cannot read the embedding store {path}: {error}") from error
    if "embedding" not in dataset or dataset["embedding"].dims != ("feature", "time", "y", "x"):
        raise InputError(f"{path} is not a store written by `cae embed` (no embedding(feature, time, y, x))")
    return dataset


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def create_store(partial: Path, template: xr.Dataset, chunks: dict[str, int]) -> None:
    """Write the layout of `template` (lazy arrays are not computed) and an empty progress log."""
    encoding = {  # keeps what the variables already carry, e.g. rioxarray's grid_mapping
        name: {**variable.encoding, "chunks": tuple(chunks.get(dim, template.sizes[dim]) for dim in variable.dims)}
        for name, variable in template.data_vars.items()
    }
    encoding["embedding"]["_FillValue"] = np.float32(np.nan)
    staging = partial.with_name(partial.name + ".creating")
    if staging.exists():  # left by a run killed while creating it
        shutil.rmtree(staging)
    template.to_zarr(staging, mode="w", compute=False, encoding=encoding, consolidated=False, zarr_format=3)
    (staging / PROGRESS_DIR).mkdir()
    os.replace(staging, partial)


def check_resumable(partial: Path, run: dict[str, Any]) -> None:
    """Refuse a partial store left by a different run (other model, input or chunking)."""
    import zarr

    try:
        found = zarr.open_group(partial, mode="r").attrs.get(RUN_ATTR)
    except Exception as error:
        raise InputError(f"{partial} is not a readable partial embedding ({error}); remove it and rerun") from None
    if found != json.loads(json.dumps(run)):
        raise InputError(
            f"{partial} holds an unfinished embedding of another run (different model, input, chunking or path); "
            "remove it, or rerun with --overwrite to start again"
        )


def finished_chunks(partial: Path) -> set[str]:
    return {path.name for path in (partial / PROGRESS_DIR).iterdir()} if (partial / PROGRESS_DIR).exists() else set()


def write_chunk(partial: Path, name: str, region: tuple[slice, slice, slice], arrays: dict[str, np.ndarray]) -> None:
    """Write one chunk's arrays (last three axes: time, y, x) and then its marker."""
    import zarr

    group = zarr.open_group(partial, mode="r+")
    for variable, data in arrays.items():
        group[variable][(Ellipsis, *region)] = data
    (partial / PROGRESS_DIR / name).touch()


def add_int8_copy(partial: Path) -> None:
    """Add a quantised copy of the finished float embedding: a quarter of its size.

    Per feature, the range [min, max] over the whole store maps linearly onto the codes
    -127..127, so dequantising (`dequantised`) is off by at most half a step, scale / 2.
    The ranges are known only once every chunk is written, so this runs at the end, from
    the float store, one store chunk at a time (dask); rerun after a kill, it rewrites the
    same values.
    """
    import dask
    import zarr

    from cae.embedding.describe import quantization

    dataset = open_store(partial)
    embedding = dataset["embedding"]
    low, high = dask.compute(embedding.min(("time", "y", "x")), embedding.max(("time", "y", "x")))
    low, high = low.fillna(0.0), high.fillna(0.0)  # a feature with no embedded value at all
    scale = xr.where(high > low, (high - low) / 254, 1.0).astype(np.float32)
    offset = (low + 127 * scale).astype(np.float32)
    codes = ((embedding - offset) / scale).round().clip(-127, 127).fillna(INT8_MISSING).astype(np.int8)
    described = {"long_name": f"embedding quantised: embedding ~ {INT8} * {INT8_SCALE} + {INT8_OFFSET}"}
    copy = xr.Dataset({
        INT8: codes.assign_attrs(described),
        INT8_SCALE: scale.assign_attrs(long_name="step of the int8 codes, per feature"),
        INT8_OFFSET: offset.assign_attrs(long_name="value of code 0, per feature"),
    })
    copy = copy.drop_vars([name for name in copy.coords if name != "feature"])  # already in the store
    # Appending replaces the group's attributes with the copy's: it carries the store's, and the quantisation.
    copy.attrs = {**zarr.open_group(partial, mode="r").attrs,
                  "geoemb:quantization": quantization(INT8, INT8_SCALE, INT8_OFFSET, INT8_MISSING)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f"Object at {PROGRESS_DIR} is not recognized")
        copy.to_zarr(partial, mode="a", consolidated=False, encoding={INT8: {"_FillValue": np.int8(INT8_MISSING)}})


def dequantised(dataset: xr.Dataset) -> xr.DataArray:
    """The float embedding (NaN where there is none) from a store's int8 copy."""
    return dataset[INT8] * dataset[INT8_SCALE] + dataset[INT8_OFFSET]


def publish(partial: Path, out: Path) -> None:
    """Move the finished store into place; an existing `out` (only with --overwrite) goes last.

    Each step leaves something a rerun finishes: the progress log goes only once the store
    is at `out` (until then a rerun finds every chunk done), and a replaced store left by a
    killed run is removed first.
    """
    previous = out.with_name(out.name + ".replaced")
    if previous.exists():
        shutil.rmtree(previous)
    if out.exists():
        os.replace(out, previous)
    os.replace(partial, out)
    shutil.rmtree(out / PROGRESS_DIR)
    if previous.exists():
        shutil.rmtree(previous)

