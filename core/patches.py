"""Torch datasets of samples cut from prepared cubes, for one modality's autoencoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from cae.modality import PreparedModality, SamplingDefaults
from cae.sampling import PatchCutter, PatchIndex, Site, training_indices


@dataclass(frozen=True)
class SourceCube:
    """One prepared cube of the modality being trained, with a cutter for its samples."""

    name: str
    prepared: PreparedModality
    cutter: PatchCutter


def sample_tensors(cutter: PatchCutter, index: PatchIndex) -> dict[str, torch.Tensor]:
    sample = cutter.cut(index)
    return {
        "values": torch.from_numpy(sample.values),  # (11, C, 15, 15)
        "mask": torch.from_numpy(sample.mask),  # (11, 15, 15)
        "day_offsets": torch.from_numpy(sample.day_offsets),  # (11,)
    }


class PatchDataset(Dataset):
    """Samples at fixed positions (validation and test: the same every epoch)."""

    def __init__(self, items: Sequence[tuple[SourceCube, PatchIndex]]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        source, index = self.items[position]
        return sample_tensors(source.cutter, index)


def sample_positions(
    sources: dict[str, SourceCube], sites: Sequence[Site], sampling: SamplingDefaults, rng: np.random.Generator
) -> list[tuple[SourceCube, PatchIndex]]:
    """Training positions in `sites`, with a fresh random choice of dates from `rng`."""
    positions = []
    for site in sites:
        source = sources[site.cube]
        valid = source.cutter.valid
        for index in training_indices(valid, source.prepared.times, sampling, rng, site):
            positions.append((source, index))
    return positions


class RedrawnPatchDataset(Dataset):
    """Training samples whose 11 dates are drawn anew each epoch (DESIGN 3's random draw).

    Re-drawing is deterministic: epoch e uses the generator seeded with (seed, e), so a
    resumed run sees exactly the samples an uninterrupted one would.
    """

    def __init__(
        self, sources: dict[str, SourceCube], sites: Sequence[Site], sampling: SamplingDefaults, seed: int
    ) -> None:
        self.sources, self.sites, self.sampling, self.seed = sources, list(sites), sampling, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        self.items = sample_positions(self.sources, self.sites, self.sampling, rng)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        source, index = self.items[position]
        return sample_tensors(source.cutter, index)
