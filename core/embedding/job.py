"""What an embedding run is made of: its options, the chunks of its output grid, and the job
a worker needs to compute any chunk (paths and small arrays only: it pickles)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cae.embedding.coverage import Coverage

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
    #: A cube variable marking invalid pixels (non-zero or NaN), as `cae cube check --mask-variable`.
    mask_variable: str | None = None
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
    #: fill values for missing input (`cae.samples.windows.fill_invalid`).
    reach: int
    fill_values: dict[str, np.ndarray] = field(repr=False)
    #: The fused modalities computed from another's cube (read from that cube).
    derived: tuple[str, ...] = ()
    precision: str = "float32"
    mask_variable: str | None = None
    series_ends: bool = False
    #: What the cubes and the model were when the job was planned: what a worker's opened
    #: inputs are checked against (`cae.embedding.inputs`).
    inputs_fingerprint: str = ""
    model_sha256: str = ""


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
