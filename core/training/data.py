"""Training data: prepared cubes, their split into spatial blocks, and its provenance."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cae import __version__
from cae.checkpoint import git_revision
from cae.cube.stack import load_stack
from cae.errors import DataWarning, InputError
from cae.plugins.contract import ModalitySpec, PreparedModality, SamplingDefaults
from cae.plugins.manager import installed_modalities
from cae.samples.blocks import SpatialBlock, spatial_blocks, split_blocks
from cae.samples.datasets import PatchDataset, RedrawnPatchDataset, SourceCube, held_out_positions
from cae.samples.windows import band_fill_values
from cae.training.config import TrainConfig


def data_fingerprint(sources: dict[str, SourceCube]) -> str:
    """sha256 over the prepared training arrays and their dates: what the model learnt from."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode())
        _digest_content(digest, sources[name])
    return digest.hexdigest()


def source_identity(source: SourceCube) -> str:
    """sha256 over one cube's prepared arrays and dates: its content, whatever its file name."""
    digest = hashlib.sha256()
    _digest_content(digest, source)
    return digest.hexdigest()


def _digest_content(digest, source: SourceCube) -> None:
    for modality in sorted(source.cutters):
        cutter = source.cutters[modality]
        digest.update(modality.encode())
        digest.update(np.ascontiguousarray(cutter.days).tobytes())
        digest.update(np.nan_to_num(cutter.values, nan=-1.0).tobytes())


def provenance(cubes, sources: dict[str, SourceCube], split: dict[str, list[SpatialBlock]], datasets) -> dict[str, Any]:
    """What a run learnt from and with which code: recorded in every checkpoint's JSON."""
    train, val, test = datasets
    return {
        "data": {
            "cubes": [str(path) for path in cubes],
            "fingerprint": data_fingerprint(sources),
            "blocks": {name: [block.name for block in members] for name, members in split.items()},
            "samples": {"train_first_epoch": len(train), "val": len(val), "test": len(test)},
        },
        "cae_version": __version__,
        "git_revision": git_revision(),
    }


def recorded_blocks(metadata: dict[str, Any]) -> dict[str, list[str]]:
    """The split a run recorded: block names by split (older runs recorded them as "sites")."""
    data = metadata["data"]
    return data["blocks"] if "blocks" in data else data["sites"]


def block_band_statistics(sources: dict[str, SourceCube], blocks: Sequence[SpatialBlock], modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,) mean and standard deviation of each band over the valid pixels of `blocks`."""
    totals, squares, count = 0.0, 0.0, 0
    for block in blocks:
        cutter = sources[block.cube].cutters[modality]
        rows, cols = slice(*block.rows), slice(*block.cols)
        valid = cutter.valid[:, None, rows, cols]  # (T, 1, h, w)
        values = np.where(valid, cutter.values[:, :, rows, cols], 0.0).astype(np.float64)  # (T, C, h, w)
        totals = totals + values.sum((0, 2, 3))
        squares = squares + (values**2).sum((0, 2, 3))
        count += int(valid.sum())
    count = max(count, 1)
    means = totals / count
    stds = np.sqrt(np.maximum(squares / count - means**2, 0.0))
    return torch.as_tensor(means, dtype=torch.float32), torch.as_tensor(stds, dtype=torch.float32)


def load_sources(
    modality: str,
    cubes: Sequence[str | os.PathLike],
    halo: int = 0,
    fill: Sequence[float] | None = None,
    mask_variable: str | None = None,
) -> tuple[ModalitySpec, dict[str, SourceCube]]:
    """Open and prepare every training cube of one modality (each cube holds its own blocks).

    `halo`: pixels around each patch the encoder reads (see `AutoencoderPreset.halo`).
    `fill`: the band values that replace missing ones (a trained encoder's `fill_values`);
    by default the band means of all these cubes (`cae.samples.windows.band_fill_values`), which
    a new encoder then saves with its weights.
    `mask_variable`: a cube variable marking invalid pixels (`cae cube check --mask-variable`).
    """
    registry = installed_modalities()
    spec = registry.spec(modality)
    prepared_cubes: dict[str, PreparedModality] = {}
    bands: tuple[str, ...] | None = None
    for path in cubes:
        # Each cube is a place of its own: one stack each (a derived modality reads its source's cube).
        stack = load_stack([path], registry, derived=[modality] if spec.derived_from else (), mask_variable=mask_variable)
        if modality not in stack.modalities:
            raise InputError(f"{path} holds {', '.join(stack.modalities)}, not {modality}")
        prepared = stack.modalities[modality]
        if bands is not None and prepared.bands != bands:
            raise InputError(
                f"{path} has bands {prepared.bands}, the other cubes {bands}; train on cubes with the same bands"
            )
        bands = prepared.bands
        name = Path(path).name
        if name in prepared_cubes:
            name = f"{name}#{len(prepared_cubes)}"
        prepared_cubes[name] = prepared
    fill = band_fill_values(list(prepared_cubes.values())) if fill is None else np.asarray(fill, np.float32)
    sources = {
        name: SourceCube.of(name, modality, {modality: prepared}, {modality: halo}, {modality: fill})
        for name, prepared in prepared_cubes.items()
    }
    return spec, sources


def split_into_blocks(sources: dict[str, SourceCube], size: int, seed: int) -> dict[str, list[SpatialBlock]]:
    """Blocks of every cube, split whole into train/val/test; blocks shrink until there are 4."""
    while True:
        blocks = [
            block
            for name, source in sources.items()
            for block in spatial_blocks(name, source.valid.shape[1], source.valid.shape[2], size, source_identity(source))
        ]
        if len(blocks) >= 4 or size <= 15:
            break
        size = max(size * 2 // 3, 15)
    split = split_blocks(blocks, seed=seed)
    if not split["val"]:
        raise InputError("the cubes are too small to hold out validation blocks; give larger or more cubes")
    return split


def split_as_recorded(recorded: dict[str, list[str]], own: dict[str, list[SpatialBlock]]) -> dict[str, list[SpatialBlock]] | None:
    """The blocks of `own` regrouped into the parts an earlier run `recorded` them in, or None
    when that run did not cut these blocks (other cubes, block size or grid) or held none of
    them out for validation.

    Fusion trains on the blocks its time-axis encoder trained on and holds out the ones it
    held out. Cutting its own split instead would score fusion on pixels the frozen encoder
    was fitted to whenever the two splits differ: an encoder trained with another seed or
    block size, or before the split's hash changed, like the demo model shipped with cae.
    """
    blocks = {block.name: block for members in own.values() for block in members}
    if not set(blocks) <= {name for names in recorded.values() for name in names}:
        return None
    split = {part: [blocks[name] for name in recorded.get(part, []) if name in blocks] for part in ("train", "val", "test")}
    return split if split["train"] and split["val"] else None


def split_like_encoder(metadata: dict[str, Any], sources: dict[str, SourceCube], config: TrainConfig) -> tuple[dict[str, list[SpatialBlock]], bool]:
    """(the split of `sources` for a run over the frozen encoder `metadata` describes, whether it
    is the encoder's own). The encoder's split is adopted when it cut these blocks (cut here at
    the block size it recorded, whatever this run's); otherwise this run cuts its own, with a
    warning when that holds out blocks the encoder trained on (its scores would flatter it)."""
    training = metadata.get("training", {})
    size = training.get("block_size", training.get("site_block", config.block_size))  # "site_block": before the rename
    recorded = recorded_blocks(metadata)
    cut = split_into_blocks(sources, size, config.seed)
    adopted = split_as_recorded(recorded, cut)
    if adopted is not None:
        return adopted, True
    own = cut if size == config.block_size else split_into_blocks(sources, config.block_size, config.seed)
    trained_on = set(recorded.get("train", []))
    seen = [block.name for part in ("val", "test") for block in own[part] if block.name in trained_on]
    if seen:
        warnings.warn(DataWarning(
            f"the {metadata.get('modality', 'time-axis')} encoder trained on {', '.join(seen)}, which this run holds "
            "out: its held-out scores include pixels the encoder was fitted to (give the cubes the encoder was "
            "trained on, in its order, for the same split)"
        ), stacklevel=2)
    return own, False


def block_datasets(
    sources: dict[str, SourceCube], sampling: SamplingDefaults, config: TrainConfig,
    split: dict[str, list[SpatialBlock]] | None = None,
) -> tuple[dict[str, list[SpatialBlock]], RedrawnPatchDataset, PatchDataset, PatchDataset]:
    """Split the sources into blocks (unless `split` is given); train, validation and test
    samples of those blocks."""
    split = split or split_into_blocks(sources, config.block_size, config.seed)
    train = RedrawnPatchDataset(sources, split["train"], sampling, config.seed)
    val = PatchDataset(held_out_positions(sources, split["val"], config.validation_spacing))
    test = PatchDataset(held_out_positions(sources, split["test"], config.test_spacing))
    return split, train, val, test
