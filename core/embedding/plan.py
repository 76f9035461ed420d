"""Planning an embedding run: open and check its inputs, cut the output grid into chunks
sized for the device, and predict how long it will take."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cae.checkpoint import check_encoder_input
from cae.embedding import store
from cae.embedding.compute import compute_chunk
from cae.embedding.coverage import coverage
from cae.embedding.inputs import fingerprint, fusion_of, opened_fusion, opened_stack
from cae.embedding.job import AUTO, PRECISIONS, Chunk, EmbedJob, EmbedOptions, EmbedPlan
from cae.errors import InputError
from cae.geometry import CENTER_DATE, N_DATES


def plan(cubes: Sequence[str | os.PathLike], model: str | os.PathLike, out: Path, options: EmbedOptions) -> EmbedPlan:
    """Open the inputs and the model, check they fit, and cut the output grid into chunks."""
    from cae.plugins.manager import installed_modalities
    from cae.training.device import resolve_device

    cubes = tuple(str(Path(path).resolve()) for path in cubes)
    device = resolve_device(options.device)
    fusion = opened_fusion(str(Path(model).resolve()), device)
    registry = installed_modalities()
    derived = tuple(name for name in fusion.model.modalities if registry.spec(name).derived_from)
    identity = fingerprint(cubes)
    stack = opened_stack(cubes, derived, options.mask_variable, identity)
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
        reach, fill_values, derived, options.precision, options.mask_variable, options.series_ends, identity,
        fusion.metadata["weights_sha256"],
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


def estimate(plan_: EmbedPlan, int8: bool = False) -> dict[str, float]:
    """Output bytes and an estimated run time (`predicted_seconds`)."""
    job = plan_.job
    n_times, height, width = plan_.shape
    features = fusion_of(job).model.preset.embedding_dim
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
