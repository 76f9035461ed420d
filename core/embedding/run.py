"""`cae embed`: every cloud-free pixel-date of a cube to the fused embedding (DESIGN 6).

The cube is cut into chunks of dates x pixels. Each chunk reads its region plus a halo
(5 dates on each side, and the encoders' reach in pixels), computes the embedding of the
pixel-dates of its core that have full context and a valid centre, and writes them to the
store at once. Chunks are independent, so they run one after another here, or as tasks on
a dask.distributed cluster; either way the result is the same, and a rerun after a kill
skips the chunks already written.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cae import __version__
from cae.checkpoint import check_encoder_input, check_writable
from cae.cube.io import reading
from cae.embedding import store
from cae.embedding.coverage import Coverage, coverage
from cae.embedding.describe import convention_attributes, stac_item_path, write_stac_item
from cae.embedding.latents import naive_latents, shared_latents
from cae.errors import InputError
from cae.locks import sole_writer
from cae.modality import CENTER_DATE, N_DATES
from cae.outputs import check_apart

FEATURE_DIM = "feature"
#: With `EmbedOptions.series_ends`: the store's flag of pixel-dates embedded without full context.
SERIES_END = "series_end"


#: `EmbedOptions.chunk` and `batch_size` chosen from the device's free memory (`cae.embedding.memory`).
AUTO = "auto"


@dataclass(frozen=True)
class EmbedOptions:
    device: str = "auto"
    #: Windows per forward pass, or AUTO.
    batch_size: int | str = 512
    #: Pixels per side of a chunk (or AUTO: the largest that fits the device's free memory),
    #: and dates per chunk. A chunk larger than the cube is the cube.
    chunk: int | str = 64
    chunk_dates: int = 32
    #: Run the full encoder on every window (the reference) instead of sharing work.
    naive: bool = False
    #: Address of a dask.distributed scheduler; None runs the chunks in this process.
    scheduler: str | None = None
    overwrite: bool = False
    #: Also write an int8 copy of the embedding with per-feature scale and offset.
    int8: bool = False
    #: Arithmetic of the encoders and fusion: "float32", or "bfloat16" (autocast: matrix
    #: products and convolutions in bfloat16, for a GPU's tensor cores). The store is float32.
    precision: str = "float32"
    #: Also embed the first and last 5 dates of the series, each window repeating the series'
    #: first or last date in place of the dates beyond it (flagged in SERIES_END). Not the
    #: paper's: off by default.
    series_ends: bool = False


#: `EmbedOptions.precision` values and the autocast dtype each runs under (None: off).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Chunk:
    """A block of the output grid (time, y, x), named after its position in the chunk grid."""

    name: str
    region: tuple[slice, slice, slice]


@dataclass(frozen=True)
class EmbedJob:
    """What a worker needs to embed any chunk: paths and small arrays only (it pickles)."""

    cubes: tuple[str, ...]
    model: str
    partial: str
    naive: bool
    device: str
    batch_size: int
    #: Pixels a centre needs on each side (the widest encoder input), and each encoder's
    #: fill values for missing input (`cae.sampling.fill_invalid`).
    reach: int
    fill_values: dict[str, np.ndarray] = field(repr=False)
    #: The fused modalities computed from another's cube (read from that cube).
    derived: tuple[str, ...] = ()
    precision: str = "float32"
    series_ends: bool = False


@dataclass(frozen=True)
class EmbedPlan:
    """Everything decided before any chunk runs."""

    job: EmbedJob
    chunks: list[Chunk]
    shape: tuple[int, int, int]
    modalities: tuple[str, ...]
    centres: int
    #: The chunk's sides as used (time, y, x): `EmbedOptions` resolved against the cube and memory.
    chunk_shape: tuple[int, int, int]
    #: Which pixel-dates get an embedding and why the others do not.
    coverage: Coverage


@functools.lru_cache(maxsize=2)
def _stack(cubes: tuple[str, ...], derived: tuple[str, ...]):
    """The prepared, lazy modalities of the cubes (once per process: workers reuse it)."""
    from cae.cube.stack import load_stack
    from cae.plugins import installed_modalities

    return load_stack(cubes, installed_modalities(), derived=derived, load=False)


@functools.lru_cache(maxsize=2)
def _fusion(model: str, device: str):
    from cae.fusion.checkpoint import load_fusion

    return load_fusion(model, device=device)


def fingerprint(paths: Sequence[str]) -> str:
    """sha256 over each input's layout: file names and sizes, and the text of metadata files.

    Cheap for cubes of any size (no pixel is read) and changes whenever a cube is rewritten
    with other data, bands, dates or chunking.
    """
    digest = hashlib.sha256()
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            digest.update(str(file.stat().st_size).encode())
            if file.name in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
                digest.update(file.read_bytes())
    return digest.hexdigest()


def plan(cubes: Sequence[str | os.PathLike], model: str | os.PathLike, out: Path, options: EmbedOptions) -> EmbedPlan:
    """Open the inputs and the model, check they fit, and cut the output grid into chunks."""
    from cae.plugins import installed_modalities
    from cae.training import resolve_device

    cubes = tuple(str(Path(path).resolve()) for path in cubes)
    device = resolve_device(options.device)
    fusion = _fusion(str(Path(model).resolve()), device)
    registry = installed_modalities()
    derived = tuple(name for name in fusion.model.modalities if registry.spec(name).derived_from)
    stack = _stack(cubes, derived)
    missing = [name for name in fusion.model.modalities if name not in stack.modalities]
    unknown = [name for name in stack.modalities if name not in fusion.model.modalities]
    if stack.time_axis in missing or unknown:
        raise InputError(
            f"the fusion model embeds {', '.join(fusion.model.modalities)} (time axis {stack.time_axis} needed); "
            f"the cubes hold {', '.join(stack.modalities)}"
        )
    for name in fusion.model.modalities:
        if name in stack.modalities:
            check_encoder_input(fusion.encoders[name].metadata, stack.modalities[name])
    encoders = {name: fusion.encoders[name].model for name in fusion.model.modalities if name in stack.modalities}
    reach = max(model.input_size // 2 for model in encoders.values())
    n_times, height, width = stack.reference.valid.shape
    if n_times < N_DATES or height < 2 * reach + 1 or width < 2 * reach + 1:
        raise InputError(
            f"the cube ({n_times} dates, {height} x {width} pixels) is smaller than one window "
            f"({N_DATES} dates, {2 * reach + 1} x {2 * reach + 1} pixels)"
        )
    fill_values = {name: np.asarray(fusion.encoders[name].metadata["fill_values"], np.float32) for name in encoders}
    chunk_dates = min(options.chunk_dates, n_times)
    side, batch_size = chunk_and_batch(encoders, fusion.model.preset.embedding_dim, options, chunk_dates,
                                       max(height, width), device)
    if options.precision not in PRECISIONS:
        raise InputError(f"unknown precision {options.precision!r}; use {' or '.join(PRECISIONS)}")
    job = EmbedJob(
        cubes, str(Path(model).resolve()), str(store.partial_path(out)), options.naive, device, batch_size,
        reach, fill_values, derived, options.precision, options.series_ends,
    )
    chunks = [
        Chunk(f"{i}.{j}.{k}", (slice(t, min(t + chunk_dates, n_times)), slice(y, min(y + side, height)),
                               slice(x, min(x + side, width))))
        for (i, t), (j, y), (k, x) in itertools.product(
            enumerate(range(0, n_times, chunk_dates)),
            enumerate(range(0, height, side)),
            enumerate(range(0, width, side)),
        )
    ]
    covered = coverage(stack.reference.valid, reach, series_ends=options.series_ends)
    return EmbedPlan(job, chunks, (n_times, height, width), tuple(encoders), covered.embedded,
                     (chunk_dates, side, side), covered)


def chunk_and_batch(encoders: dict, features: int, options: EmbedOptions, chunk_dates: int, cube_side: int,
                    device: str) -> tuple[int, int]:
    """The chunk side and batch size to use: as asked (a chunk no larger than the cube), or
    chosen from the device's free memory (AUTO); a chunk that cannot fit is refused, naming
    the largest that can."""
    from cae.embedding import memory

    shapes = {name: memory.encoder_shape(model) for name, model in encoders.items()}
    dense = not options.naive and any(model.preset.frame_encoder == "dense" for model in encoders.values())

    def need(side: int) -> int:
        return memory.chunk_bytes(shapes, features, side, chunk_dates, dense)

    free = memory.free_memory(device)
    if options.chunk == AUTO:
        fitting = memory.largest_chunk(lambda side: need(side) <= memory.AUTO_SHARE * free, cube_side)
        side = fitting if fitting == cube_side else fitting // memory.AUTO_STEP * memory.AUTO_STEP
    else:
        side = min(int(options.chunk), cube_side)
        if need(side) > free:
            largest = memory.largest_chunk(lambda side: need(side) <= free, cube_side)
            raise InputError(
                f"a chunk of {side} x {side} pixels x {chunk_dates} dates needs about {need(side) / 2**30:.1f} GiB; "
                f"{device} has {free / 2**30:.1f} GiB free. The largest chunk that fits: --chunk {largest} "
                "(or --chunk auto, or fewer --chunk-dates)"
            )
    if side < 1:
        raise InputError(f"not even a 1-pixel chunk of {chunk_dates} dates fits the {free / 2**30:.2f} GiB free on {device}")
    if options.batch_size != AUTO:
        return side, int(options.batch_size)
    widest = max(shape.widest for shape in shapes.values())
    window = memory.BYTES * max(model.input_size for model in encoders.values()) ** 2 * 3 * widest
    return side, memory.auto_batch_size(free, window)


def _centres(valid: np.ndarray, region: tuple[slice, slice, slice], shape: tuple[int, int, int], reach: int,
             series_ends: bool = False) -> np.ndarray:
    """(N, 3) global (t, y, x) of the region's pixel-dates with full context (or, with
    `series_ends`, at the ends of the series) and a valid centre."""
    n_times, height, width = shape
    t, y, x = region
    context = 0 if series_ends else CENTER_DATE
    bounds = (
        slice(max(t.start, context), min(t.stop, n_times - context)),
        slice(max(y.start, reach), min(y.stop, height - reach)),
        slice(max(x.start, reach), min(x.stop, width - reach)),
    )
    if any(part.stop <= part.start for part in bounds):
        return np.zeros((0, 3), dtype=np.int64)
    local = np.argwhere(valid[tuple(slice(b.start - r.start, b.stop - r.start) for b, r in zip(bounds, region))])
    return local + np.array([b.start for b in bounds])


def embed_chunk(job: EmbedJob, chunk: Chunk) -> int:
    """Embed one chunk and write it to the partial store; returns the pixel-dates written."""
    arrays, count = compute_chunk(job, chunk)
    store.write_chunk(Path(job.partial), chunk.name, chunk.region, arrays)
    return count


def compute_chunk(job: EmbedJob, chunk: Chunk, limit: int | None = None) -> tuple[dict[str, np.ndarray], int]:
    """The chunk's `embedding` (feature, time, y, x) and `contributors` (time, y, x) arrays.

    With `limit`, only the first `limit` pixel-dates are embedded (for timing).
    """
    return encode_chunk(job, chunk, read_chunk(job, chunk, limit))


@dataclass(frozen=True)
class ChunkInput:
    """What one chunk needs from the cubes, read and filled on the host: the (N, 3) global
    (t, y, x) of its centres, the origin of the region read around them, and per modality
    the filled values (T, C, H, W), their day numbers and each centre's date gap; and the
    dates of the whole series."""

    shape: tuple[int, int, int]
    centres: np.ndarray
    origin: np.ndarray
    tiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    series_dates: int


def read_chunk(job: EmbedJob, chunk: Chunk, limit: int | None = None) -> ChunkInput:
    """Read what `chunk` needs (a thread may do it while another chunk computes).

    Lazy reads run in this thread (dask's synchronous scheduler): on a cluster worker they
    must not be sent back to the cluster as tasks of their own.
    """
    from cae.sampling import day_numbers, fill_invalid

    def values_of(array):
        return array.compute(scheduler="synchronous").values

    stack = _stack(job.cubes, job.derived)
    shape = stack.reference.valid.shape
    t, y, x = chunk.region
    with reading(", ".join(job.cubes)):
        valid = values_of(stack.reference.valid.isel(time=t, y=y, x=x))
        centres = _centres(valid, chunk.region, shape, job.reach, job.series_ends)[:limit]
        read = (
            slice(max(t.start - CENTER_DATE, 0), min(t.stop + CENTER_DATE, shape[0])),
            slice(max(y.start - job.reach, 0), min(y.stop + job.reach, shape[1])),
            slice(max(x.start - job.reach, 0), min(x.stop + job.reach, shape[2])),
        )
        tiles = {}
        for name in job.fill_values:
            prepared = stack.modalities[name]
            region = dict(time=read[0], y=read[1], x=read[2])
            values = values_of(prepared.values.isel(region)).astype(np.float32)
            filled = fill_invalid(values, values_of(prepared.valid.isel(region)), job.fill_values[name])
            offsets = prepared.offset_days
            gap = np.zeros(len(centres)) if offsets is None else offsets[centres[:, 0]]
            tiles[name] = (filled, day_numbers(prepared.times[read[0]]), gap)
    return ChunkInput(valid.shape, centres, np.array([part.start for part in read]), tiles, shape[0])


def encode_chunk(job: EmbedJob, chunk: Chunk, inputs: ChunkInput) -> tuple[dict[str, np.ndarray], int]:
    """The chunk's arrays from its read inputs: the encoders, then fusion, on the job's device."""
    autocast = PRECISIONS[job.precision]
    with torch.autocast(torch.device(job.device).type, dtype=autocast, enabled=autocast is not None):
        return _encode_chunk(job, chunk, inputs)


def _encode_chunk(job: EmbedJob, chunk: Chunk, inputs: ChunkInput) -> tuple[dict[str, np.ndarray], int]:
    fusion = _fusion(job.model, job.device)
    centres = inputs.centres
    local = torch.as_tensor(centres - inputs.origin, device=job.device)
    encode = naive_latents if job.naive else shared_latents
    latents, gaps, present = {}, {}, {}
    for name, (filled, days, gap) in inputs.tiles.items():
        model = fusion.encoders[name].model
        latents[name] = encode(model, torch.as_tensor(filled, device=job.device), torch.as_tensor(days, device=job.device),
                               local, job.batch_size)
        present[name] = torch.as_tensor(~np.isnan(gap), device=job.device)
        gaps[name] = torch.as_tensor(np.nan_to_num(gap), device=job.device)
    for name in fusion.model.modalities:
        if name not in latents:  # no cube given for it: absent everywhere, as fusion allows
            latents[name] = torch.zeros(len(centres), fusion.model.project[name].in_features, device=job.device)
            gaps[name] = torch.zeros(len(centres), device=job.device)
            present[name] = torch.zeros(len(centres), dtype=torch.bool, device=job.device)
    embedding = np.full((fusion.model.preset.embedding_dim, *inputs.shape), np.nan, dtype=np.float32)
    contributors = np.zeros(inputs.shape, dtype=np.uint8)
    series_end = np.zeros(inputs.shape, dtype=np.uint8)
    if len(centres):
        with torch.no_grad():
            fused = torch.cat([
                fusion.model.embed(
                    {name: part[start : start + job.batch_size] for name, part in latents.items()},
                    {name: part[start : start + job.batch_size] for name, part in gaps.items()},
                    {name: part[start : start + job.batch_size] for name, part in present.items()},
                )
                for start in range(0, len(centres), job.batch_size)
            ])
        t, y, x = chunk.region
        inside = tuple((centres - np.array([t.start, y.start, x.start])).T)
        embedding[(slice(None), *inside)] = fused.float().cpu().numpy().T
        for bit, name in enumerate(fusion.model.modalities):
            contributors[inside] |= present[name].cpu().numpy().astype(np.uint8) << bit
        series_end[inside] = (centres[:, 0] < CENTER_DATE) | (centres[:, 0] >= inputs.series_dates - CENTER_DATE)
    arrays = {"embedding": embedding, "contributors": contributors}
    return (arrays | {SERIES_END: series_end} if job.series_ends else arrays), len(centres)


def template(plan_: EmbedPlan):
    """The output Dataset's layout: lazy empty arrays, coordinates, CRS and provenance."""
    import dask.array as da
    import xarray as xr

    from cae.cube.grid import crs_of, with_crs
    from cae.cube.io import open_cube

    job = plan_.job
    stack, fusion = _stack(job.cubes, job.derived), _fusion(job.model, job.device)
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
        store.RUN_ATTR: run_record(plan_),
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
    dataset.attrs.update(convention_attributes(features, Path(job.model), list(job.cubes), _pixel_metres(reference, crs)))
    return with_crs(dataset, crs) if crs is not None else dataset


def _pixel_metres(grid, crs) -> float | None:
    """The side of a square pixel in metres, or None (no CRS, not in metres, not square)."""
    from cae.cube.grid import resolution_of

    x, y = resolution_of(grid)
    metres = crs is not None and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter")
    return float(x) if metres and np.isclose(x, y) else None


def run_record(plan_: EmbedPlan) -> dict[str, Any]:
    """What makes two runs produce the same store: a partial store resumes only the same run."""
    job = plan_.job
    fusion = _fusion(job.model, job.device)
    return {
        "model": job.model,
        "fusion_sha256": fusion.metadata["weights_sha256"],
        "input_fingerprint": fingerprint(job.cubes),
        "path": "naive" if job.naive else "fast",
        "precision": job.precision,
        "shape": list(plan_.shape),
        "chunks": [chunk.name for chunk in plan_.chunks],
        **({"series_ends": True} if job.series_ends else {}),
    }


def embed(
    cubes: Sequence[str | os.PathLike],
    model: str | os.PathLike,
    out: str | os.PathLike,
    options: EmbedOptions = EmbedOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, EmbedPlan]:
    """Embed `cubes` with the fusion model in `model` into the zarr store `out`.

    `progress(done, total)` is called after each chunk. Returns the store and the plan.
    One run writes a store at a time: a second is refused while the first holds its lock.
    """
    from cae.fusion.checkpoint import encoder_folders

    out = Path(out)
    check_apart({"--out": out, "its staging store": store.partial_path(out), "its STAC item": stac_item_path(out)},
                [*cubes, model, *encoder_folders(Path(model))])
    with sole_writer(out, "cae embed"):
        if out.exists() and not options.overwrite:
            raise InputError(f"{out} exists; choose another --out or pass --overwrite to replace it")
        check_writable(out.parent)
        plan_ = plan(cubes, model, out, options)
        partial = Path(plan_.job.partial)
        layout = template(plan_)
        with _chunk_runner(options.scheduler) as run_chunks:  # a cluster that cannot be reached leaves nothing
            if partial.exists() and options.overwrite:
                shutil.rmtree(partial)
            if partial.exists():
                store.check_resumable(partial, layout.attrs[store.RUN_ATTR])
            else:
                chunk_dates, side, _ = plan_.chunk_shape
                store.create_store(partial, layout, {FEATURE_DIM: layout.sizes[FEATURE_DIM], "time": chunk_dates,
                                                     "y": side, "x": side})
            done = store.finished_chunks(partial)
            todo = [chunk for chunk in plan_.chunks if chunk.name not in done]
            if progress:
                progress(len(done), len(plan_.chunks))
            for count, _ in enumerate(run_chunks(plan_.job, todo), start=len(done) + 1):
                if progress:
                    progress(count, len(plan_.chunks))
        if options.int8:
            store.add_int8_copy(partial)
        write_stac_item(store.open_store(partial), out)  # just before the store: a store at OUT has its item
        store.publish(partial, out)
        return out, plan_


#: Chunks read ahead of the one computing, in this process.
PREFETCH = 1


def in_process(job: EmbedJob, chunks: list[Chunk]):
    """Yield the pixel-dates of each chunk as it is written, computed in this process while a
    thread reads the next `PREFETCH` chunks and writes the last one: the device does not wait
    on zarr, and at most PREFETCH + 2 chunks are in memory."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def write(chunk: Chunk, arrays: dict[str, np.ndarray], count: int) -> int:
        store.write_chunk(Path(job.partial), chunk.name, chunk.region, arrays)
        return count

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cae-embed-io") as pool:
        reads = deque(pool.submit(read_chunk, job, chunk) for chunk in chunks[:PREFETCH])
        writing = None
        for index, chunk in enumerate(chunks):
            inputs = reads.popleft().result()
            if index + PREFETCH < len(chunks):
                reads.append(pool.submit(read_chunk, job, chunks[index + PREFETCH]))
            arrays, count = encode_chunk(job, chunk, inputs)
            if writing is not None:
                yield writing.result()
            writing = pool.submit(write, chunk, arrays, count)
        if writing is not None:
            yield writing.result()


#: How long `--scheduler` may take to answer before the run is refused.
SCHEDULER_TIMEOUT = "20s"


@contextmanager
def _chunk_runner(scheduler: str | None):
    """A function that yields chunks as they finish: computed in this process, or as tasks on
    the dask.distributed cluster at `scheduler`, connected before anything is written."""
    if scheduler is None:
        yield in_process
        return
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except OSError as error:
        raise InputError(f"cannot reach the dask scheduler at {scheduler}: {error}") from None

    def on_cluster(job: EmbedJob, chunks: list[Chunk]):
        futures = client.map(functools.partial(embed_chunk, job), chunks, pure=False)
        for future in as_completed(futures):
            yield future.result()

    with client:
        yield on_cluster


def estimate(plan_: EmbedPlan, int8: bool = False) -> dict[str, float]:
    """Output bytes and an estimated run time (`predicted_seconds`)."""
    job = plan_.job
    n_times, height, width = plan_.shape
    features = _fusion(job.model, job.device).model.preset.embedding_dim
    output_bytes = n_times * height * width * (features * (5 if int8 else 4) + 1)
    seconds = predicted_seconds(plan_)
    return {"pixel_dates": plan_.centres, "output_bytes": output_bytes, "seconds": seconds,
            "pixel_dates_per_s": plan_.centres / seconds if seconds else float("nan")}


#: Sides of the two sample blocks `predicted_seconds` times (all of a chunk's dates each).
SAMPLE_SIDES = (8, 16)


def predicted_seconds(plan_: EmbedPlan) -> float:
    """The run's time, from timing two blocks of the cube the way a chunk is computed.

    A chunk costs in two parts: its tile (dates read x pixels with their halo: reading,
    filling, the frames' tokens, the dense encoder's maps) and its centres (each window's
    latent, fusion). Timing blocks of two sizes in the middle of the cube gives both rates;
    the plan's chunks then give the sum. (Timing a few windows of one date, as before,
    counted each window's 11 frames where a chunk shares them across its dates: 5.6 times
    the measured run.)
    """
    job = plan_.job
    n_times, height, width = plan_.shape
    dates = plan_.chunk_shape[0]
    t0 = max(0, min(n_times - dates, n_times // 2 - dates // 2))
    samples = []
    for side in sorted({min(side, height, width) for side in SAMPLE_SIDES}):
        y0, x0 = (height - side) // 2, (width - side) // 2
        block = Chunk("estimate", (slice(t0, t0 + dates), slice(y0, y0 + side), slice(x0, x0 + side)))
        compute_chunk(job, block, limit=1)  # warm-up: reads, allocations, first kernels
        started = time.perf_counter()
        _, centres = compute_chunk(job, block)
        samples.append((_tile_area(job, block.region, plan_.shape), centres, time.perf_counter() - started))
    (area_a, centres_a, time_a), (area_b, centres_b, time_b) = samples[0], samples[-1]
    determinant = area_a * centres_b - area_b * centres_a
    per_area = (time_a * centres_b - time_b * centres_a) / determinant if determinant else -1.0
    per_centre = (area_a * time_b - area_b * time_a) / determinant if determinant else -1.0
    if per_area < 0 or per_centre < 0:  # too few centres to tell the parts apart: all by centre
        per_area, per_centre = 0.0, time_b / max(centres_b, 1)
    areas = sum(_tile_area(job, chunk.region, plan_.shape) for chunk in plan_.chunks)
    return per_area * areas + per_centre * plan_.centres


def _tile_area(job: EmbedJob, region: tuple[slice, slice, slice], shape: tuple[int, int, int]) -> int:
    """Date-pixels a chunk reads: its region with the halo of dates and pixels, inside the cube."""
    sizes = [min(part.stop + reach, size) - max(part.start - reach, 0)
             for part, reach, size in zip(region, (CENTER_DATE, job.reach, job.reach), shape)]
    return sizes[0] * sizes[1] * sizes[2]
