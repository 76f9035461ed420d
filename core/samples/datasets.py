"""Torch datasets of samples cut from prepared cubes, one or several modalities per place.

A batch is a dict by modality name of dicts of tensors, so the stage-1 autoencoder and the
stage-2 fusion read the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from cae.geometry import CENTER_DATE, PATCH_SIZE
from cae.plugins.contract import PreparedModality, SamplingDefaults
from cae.samples.windows import PatchCutter, PatchIndex, inference_indices, training_indices
from cae.samples.blocks import SpatialBlock


@dataclass(frozen=True)
class SourceCube:
    """The prepared modalities of one place, on the dates of `time_axis`, with their cutters."""

    name: str
    time_axis: str
    prepared: dict[str, PreparedModality]
    cutters: dict[str, PatchCutter]

    @classmethod
    def of(
        cls,
        name: str,
        time_axis: str,
        prepared: dict[str, PreparedModality],
        halos: dict[str, int] | None = None,
        fills: dict[str, np.ndarray] | None = None,
    ) -> SourceCube:
        """`halos`: pixels around the patch that each modality's encoder reads (0 if not given);
        `fills`: each modality's fill values (see `cae.samples.windows.fill_invalid`; default: the cube's)."""
        halos, fills = halos or {}, fills or {}
        cutters = {key: PatchCutter(value, halos.get(key, 0), fills.get(key)) for key, value in prepared.items()}
        return cls(name, time_axis, prepared, cutters)

    @property
    def halo(self) -> int:
        """The widest halo of its modalities: how far inside a site a patch must lie."""
        return max(cutter.halo for cutter in self.cutters.values())

    @property
    def valid(self) -> np.ndarray:
        """(T, H, W) validity of the time-axis modality: where samples may be centred."""
        return self.cutters[self.time_axis].valid

    @property
    def times(self) -> np.ndarray:
        return self.prepared[self.time_axis].times


def sample_tensors(source: SourceCube, index: PatchIndex) -> dict[str, dict[str, torch.Tensor]]:
    """Every modality's part of one sample.

    `values` is the encoder's input (with its halo), `target` the 15 x 15 patch the decoder
    reconstructs; `gap_days` is the day gap between the modality's acquisition and the
    centre date (0 on its own time axis); `present` is False where it had no acquisition
    within tolerance.
    """
    tensors = {}
    for name, cutter in source.cutters.items():
        sample = cutter.cut(index)
        offsets = source.prepared[name].offset_days
        gap = 0.0 if offsets is None else float(offsets[index.dates[CENTER_DATE]])
        halo = cutter.halo
        target = sample.values[..., halo : halo + PATCH_SIZE, halo : halo + PATCH_SIZE]
        tensors[name] = {
            "values": torch.from_numpy(sample.values),  # (11, C, 15 + 2h, 15 + 2h)
            "target": torch.from_numpy(np.ascontiguousarray(target)),  # (11, C, 15, 15)
            "mask": torch.from_numpy(sample.mask),  # (11, 15, 15)
            "day_offsets": torch.from_numpy(sample.day_offsets),  # (11,)
            "gap_days": torch.tensor(0.0 if np.isnan(gap) else gap),
            "present": torch.tensor(not np.isnan(gap)),
        }
    return tensors


class PatchDataset(Dataset):
    """Samples at fixed positions (validation and test: the same every epoch)."""

    def __init__(self, items: Sequence[tuple[SourceCube, PatchIndex]]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        source, index = self.items[position]
        return sample_tensors(source, index)


def sample_positions(
    sources: dict[str, SourceCube], sites: Sequence[SpatialBlock], sampling: SamplingDefaults, rng: np.random.Generator
) -> list[tuple[SourceCube, PatchIndex]]:
    """Training positions in `sites`, with a fresh random choice of dates from `rng`."""
    positions = []
    for site in sites:
        source = sources[site.cube]
        for index in training_indices(source.valid, source.times, sampling, rng, site, source.halo):
            positions.append((source, index))
    return positions


def held_out_positions(
    sources: dict[str, SourceCube], sites: Sequence[SpatialBlock], spacing: int
) -> list[tuple[SourceCube, PatchIndex]]:
    """Evaluation positions in `sites`, as inference sees them (DESIGN 3): 11 consecutive
    dates around every valid centre with full context, on a grid of `spacing` pixels.

    Deterministic and dense, so held-out scores do not hinge on a few random date draws.
    """
    positions = []
    for site in sites:
        source = sources[site.cube]
        n_times, height, width = source.valid.shape
        for index in inference_indices(n_times, height, width, source.valid, site, spacing, source.halo):
            positions.append((source, index))
    return positions


class RedrawnPatchDataset(Dataset):
    """Training samples whose 11 dates are drawn anew each epoch (DESIGN 3's random draw).

    Re-drawing is deterministic: epoch e uses the generator seeded with (seed, e), so a
    resumed run sees exactly the samples an uninterrupted one would.
    """

    def __init__(
        self, sources: dict[str, SourceCube], sites: Sequence[SpatialBlock], sampling: SamplingDefaults, seed: int
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
        return sample_tensors(source, index)
