"""`cae embed`: every cloud-free pixel-date of a cube to the fused embedding (DESIGN 6).

The cube is cut into chunks of dates x pixels (`cae.embedding.plan`). Each chunk reads its
region plus a halo (5 dates on each side, and the encoders' reach in pixels), computes the
embedding of the pixel-dates of its core that have full context and a valid centre
(`cae.embedding.compute`), and writes them to the store at once (`cae.embedding.store`).
Chunks are independent, so they run one after another here, or as tasks on a
dask.distributed cluster; either way the result is the same, and a rerun after a kill
skips the chunks already written.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cae.embedding import describe, store
from cae.embedding.compute import embed_chunk, encode_chunk, read_chunk
from cae.embedding.job import FEATURE_DIM, Chunk, EmbedJob, EmbedOptions, EmbedPlan
from cae.embedding.plan import plan
from cae.errors import InputError
from cae.locks import sole_writer
from cae.outputs import check_apart, check_writable


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
    check_apart({"--out": out, "its staging store": store.partial_path(out), "its STAC item": describe.stac_item_path(out)},
                [*cubes, model, *encoder_folders(Path(model))])
    with sole_writer(out, "cae embed"):
        if out.exists() and not options.overwrite:
            raise InputError(f"{out} exists; choose another --out or pass --overwrite to replace it")
        check_writable(out.parent)
        plan_ = plan(cubes, model, out, options)
        partial = Path(plan_.job.partial)
        layout = store.template(plan_)
        layout.attrs.update(describe.convention_attributes(
            layout.sizes[FEATURE_DIM], Path(plan_.job.model), list(plan_.job.cubes), describe.pixel_metres(layout)))
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
            store.add_int8_copy(partial, {"geoemb:quantization": describe.quantization()})
        describe.write_stac_item(store.open_store(partial), out)  # just before the store: a store at OUT has its item
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
