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

from cae import __version__
from cae.embedding.inputs import fusion_of, stack_of
from cae.embedding.job import FEATURE_DIM, SERIES_END, EmbedPlan
from cae.geometry import CENTER_DATE
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


def add_int8_copy(partial: Path, attrs: dict[str, Any] | None = None) -> None:
    """Add a quantised copy of the finished float embedding: a quarter of its size.

    Per feature, the range [min, max] over the whole store maps linearly onto the codes
    -127..127, so dequantising (`dequantised`) is off by at most half a step, scale / 2.
    The ranges are known only once every chunk is written, so this runs at the end, from
    the float store, one store chunk at a time (dask); rerun after a kill, it rewrites the
    same values. `attrs` are added to the store's (the copy's description).
    """
    import dask
    import zarr

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
    # Appending replaces the group's attributes with the copy's: it carries the store's, and `attrs`.
    copy.attrs = {**zarr.open_group(partial, mode="r").attrs, **(attrs or {})}
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


def template(plan_: EmbedPlan):
    """The output Dataset's layout: lazy empty arrays, coordinates, CRS and provenance."""
    import dask.array as da

    from cae.cube.grid import crs_of, with_crs
    from cae.cube.io import open_cube

    job = plan_.job
    stack, fusion = stack_of(job), fusion_of(job)
    reference = stack.reference.valid
    n_times, height, width = plan_.shape
    features = fusion.model.preset.embedding_dim
    chunks = plan_.chunk_shape
    dataset = xr.Dataset(
        {
            "embedding": (
                (FEATURE_DIM, "time", "y", "x"),
                da.full((features, n_times, height, width), np.nan, dtype=np.float32, chunks=(features, *chunks)),
                {"long_name": "fused context-aware embedding", "units": "1"},
            ),
            "contributors": (
                ("time", "y", "x"),
                da.zeros((n_times, height, width), dtype=np.uint8, chunks=chunks),
                {
                    "long_name": "modalities that contributed to the embedding (bit flags; 0: no embedding)",
                    "flag_masks": [1 << bit for bit in range(len(fusion.model.modalities))],
                    "flag_meanings": " ".join(fusion.model.modalities),
                },
            ),
        },
        coords={FEATURE_DIM: np.arange(features), "time": reference["time"].values, "y": reference["y"].values, "x": reference["x"].values},
    )
    if job.series_ends:
        dataset[SERIES_END] = (("time", "y", "x"), da.zeros((n_times, height, width), dtype=np.uint8, chunks=chunks), {
            "long_name": f"1: embedded at an end of the series, the window repeating its first or last date in place "
                         f"of the {CENTER_DATE} dates beyond it (no full context); 0: full context, or no embedding",
        })
    dataset.attrs = {
        "title": "cae embedding",
        "cae_version": __version__,
        RUN_ATTR: run_record(plan_),
        "models": {
            "fusion_sha256": fusion.metadata["weights_sha256"],
            "encoders": {
                name: {key: fusion.metadata["encoders"][name][key] for key in ("weights_sha256", "plugin", "preset", "bands")}
                for name in fusion.model.modalities
            },
        },
        "inputs": list(job.cubes),
        "embedded_pixel_dates": plan_.centres,
        "coverage": {key: getattr(plan_.coverage, key) for key in ("total", "embedded", "end_dates", "border", "invalid")},
    }
    crs = crs_of(open_cube(job.cubes[0]))
    return with_crs(dataset, crs) if crs is not None else dataset


def run_record(plan_: EmbedPlan) -> dict[str, Any]:
    """What makes two runs produce the same store: a partial store resumes only the same run."""
    job = plan_.job
    fusion = fusion_of(job)
    return {
        "model": job.model,
        "fusion_sha256": fusion.metadata["weights_sha256"],
        "input_fingerprint": job.inputs_fingerprint,
        "path": "naive" if job.naive else "fast",
        "precision": job.precision,
        "mask_variable": job.mask_variable,
        "shape": list(plan_.shape),
        "chunks": [chunk.name for chunk in plan_.chunks],
        **({"series_ends": True} if job.series_ends else {}),
    }
