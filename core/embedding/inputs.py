"""The opened inputs of an embedding job, kept once per process.

Every chunk needs the prepared (lazy) cubes and the loaded model; opening them takes
seconds, and one process computes many chunks of a job (this process, or a dask worker),
so each process keeps the last two of each it opened. The cubes are keyed by their
fingerprint and the model is checked against its weights hash, both recorded when the job
was planned, so a long-lived worker never computes with a cube or model replaced since.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

from cae.embedding.job import EmbedJob


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


def stack_of(job: EmbedJob):
    """The job's prepared, lazy modalities."""
    return opened_stack(job.cubes, job.derived, job.mask_variable, job.inputs_fingerprint)


def fusion_of(job: EmbedJob):
    """The job's fusion model and frozen encoders, on the job's device: the one this process
    opened, unless its weights are not those the job was planned with (then opened again)."""
    loaded = opened_fusion(job.model, job.device)
    if loaded.metadata["weights_sha256"] != job.model_sha256:
        opened_fusion.cache_clear()
        loaded = opened_fusion(job.model, job.device)
        if loaded.metadata["weights_sha256"] != job.model_sha256:
            raise RuntimeError(f"the fusion model at {job.model} changed since the embedding was planned")
    return loaded


@functools.lru_cache(maxsize=2)
def opened_stack(cubes: tuple[str, ...], derived: tuple[str, ...], mask_variable: str | None, identity: str):
    """The cubes' prepared, lazy modalities; `identity` (their fingerprint) keys the cache."""
    from cae.cube.stack import load_stack
    from cae.plugins.manager import installed_modalities

    return load_stack(cubes, installed_modalities(), derived=derived, mask_variable=mask_variable, load=False)


@functools.lru_cache(maxsize=2)
def opened_fusion(model: str, device: str):
    """The fusion model at `model` (planning and every chunk of a job share this one load)."""
    from cae.fusion.checkpoint import load_fusion

    return load_fusion(model, device=device)
