"""Computing one chunk of the output grid: read its region with the context around it, run
the encoders and fusion on the pixel-dates that have full context and a valid centre.

Reading and encoding are separate steps, so that a thread may read the next chunk while
this one computes (`cae.embedding.run.in_process`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cae.cube.io import reading
from cae.embedding import store
from cae.embedding.inputs import fusion_of, stack_of
from cae.embedding.job import PRECISIONS, SERIES_END, Chunk, EmbedJob
from cae.embedding.latents import naive_latents, shared_latents
from cae.geometry import CENTER_DATE


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
    from cae.samples.windows import day_numbers, fill_invalid

    def values_of(array):
        return array.compute(scheduler="synchronous").values

    stack = stack_of(job)
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
    fusion = fusion_of(job)
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
