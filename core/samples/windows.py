"""Cutting samples from prepared cubes (DESIGN 3).

A sample is (11 dates, C bands, 15, 15) around a centre pixel (7, 7) and centre date
(index 5), with its validity mask and the days since its first date. Where a sample is
taken is a `PatchIndex`, chosen once from the time-axis modality and then cut from every
modality, so that all modalities of one sample describe the same place and dates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cae.geometry import CENTER_DATE, CENTER_PIXEL, N_DATES, PATCH_SIZE
from cae.plugins.contract import PreparedModality, SamplingDefaults
from cae.samples.blocks import SpatialBlock


@dataclass(frozen=True)
class PatchIndex:
    """Where a sample lies: 11 indices on the time axis and the window's top-left pixel."""

    dates: tuple[int, ...]
    row: int
    col: int

    @property
    def center(self) -> tuple[int, int, int]:
        """(date index, row, col) of the centre pixel at the centre date."""
        return self.dates[CENTER_DATE], self.row + CENTER_PIXEL, self.col + CENTER_PIXEL


@dataclass(frozen=True)
class Sample:
    """One modality's part of a sample.

    `values` (11, C, 15 + 2h, 15 + 2h) is the model input: the 15 x 15 patch plus the halo
    h an unpadded encoder reads, with missing values filled (see `fill_invalid`); `mask`
    (11, 15, 15) says which values of the patch are real, and keeps the others out of the
    loss. `day_offsets` (11,) are days since the first date.
    """

    values: np.ndarray
    mask: np.ndarray
    day_offsets: np.ndarray


def day_numbers(times: np.ndarray) -> np.ndarray:
    """Dates as whole days since 1970-01-01 (int64)."""
    return np.asarray(times).astype("datetime64[D]").astype(np.int64)


def training_indices(
    valid: np.ndarray,
    times: np.ndarray,
    sampling: SamplingDefaults,
    rng: np.random.Generator,
    block: SpatialBlock | None = None,
    halo: int = 0,
) -> list[PatchIndex]:
    """Training sample positions inside `block` (the whole cube when None).

    Slides a window of `window_dates` dates (stride `window_stride`) and a 15 x 15 window
    (stride `patch_stride`) over the time-axis modality's validity `valid` (T, H, W); draws
    11 of the window's dates at random, sorted; keeps a sample only if its centre pixel is
    valid at its centre date and its dates span less than `max_span_days`. With `halo`, the
    patch and a border of that many pixels around it (what an unpadded encoder reads) lie
    inside the block.
    """
    n_times, height, width = valid.shape
    rows, cols = _window_starts(block, height, width, halo)
    days = day_numbers(times)
    window = min(sampling.window_dates, n_times)
    starts = list(range(0, n_times - window + 1, sampling.window_stride)) if n_times >= N_DATES else []
    indices = []
    for start in starts:
        for row in range(*rows, sampling.patch_stride):
            for col in range(*cols, sampling.patch_stride):
                dates = tuple(int(d) for d in np.sort(rng.choice(window, N_DATES, replace=False)) + start)
                if days[dates[-1]] - days[dates[0]] >= sampling.max_span_days:
                    continue
                index = PatchIndex(dates, row, col)
                if valid[index.center]:
                    indices.append(index)
    return indices


def inference_indices(
    n_times: int,
    height: int,
    width: int,
    valid: np.ndarray | None = None,
    block: SpatialBlock | None = None,
    spacing: int = 1,
    halo: int = 0,
) -> Iterator[PatchIndex]:
    """Every (pixel, date) with full context: 7 + `halo` pixels from each edge, 5 dates on
    each side.

    The 11 dates are consecutive (no random drop). With `valid` (T, H, W), only positions
    whose centre pixel is valid at the centre date are yielded; with `block`, only windows
    inside it; with `spacing`, only every spacing-th window in each direction.
    """
    rows, cols = _window_starts(block, height, width, halo)
    for date in range(CENTER_DATE, n_times - (N_DATES - CENTER_DATE) + 1):
        dates = tuple(range(date - CENTER_DATE, date - CENTER_DATE + N_DATES))
        for row in range(*rows, spacing):
            for col in range(*cols, spacing):
                index = PatchIndex(dates, row, col)
                if valid is None or valid[index.center]:
                    yield index


def _window_starts(block: SpatialBlock | None, height: int, width: int, halo: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Ranges (start, stop) of a patch's top-left row and column, halo included, in the block."""
    rows = block.rows if block else (0, height)
    cols = block.cols if block else (0, width)
    reach = PATCH_SIZE + halo
    return (rows[0] + halo, rows[1] - reach + 1), (cols[0] + halo, cols[1] - reach + 1)


class PatchCutter:
    """Cuts samples of one prepared modality (arrays loaded and filled once, cut many times).

    `halo` extra pixels on each side of the 15 x 15 patch are cut for an encoder whose first
    block is unpadded; the mask covers the patch only, which is all the loss compares.
    `fill` (C,) replaces missing values (see `fill_invalid`); by default, this cube's
    `band_fill_values`.
    """

    def __init__(self, prepared: PreparedModality, halo: int = 0, fill: np.ndarray | None = None) -> None:
        values = np.ascontiguousarray(prepared.values.values, dtype=np.float32)  # (T, C, H, W)
        self.valid = np.ascontiguousarray(prepared.valid.values, dtype=bool)  # (T, H, W)
        self.fill = band_fill_values([prepared]) if fill is None else np.asarray(fill, dtype=np.float32)
        self.values = fill_invalid(values, self.valid, self.fill)
        self.days = day_numbers(prepared.times)
        self.halo = halo

    def cut(self, index: PatchIndex) -> Sample:
        dates = list(index.dates)
        reach = slice(index.row - self.halo, index.row + PATCH_SIZE + self.halo)
        across = slice(index.col - self.halo, index.col + PATCH_SIZE + self.halo)
        values = self.values[dates, :, reach, across]  # (11, C, 15 + 2h, 15 + 2h)
        mask = self.valid[dates, index.row : index.row + PATCH_SIZE, index.col : index.col + PATCH_SIZE]
        days = self.days[dates]
        return Sample(values, mask, days - days[0])


def band_fill_values(prepared: Sequence[PreparedModality]) -> np.ndarray:
    """(C,) mean of each band over every valid pixel-date of the prepared cubes: the fill of
    `fill_invalid`, computed once from an encoder's training cubes and saved with it.

    Values may be lazy (dask); they are reduced without loading a cube whole. A band with
    no valid value gets 0.
    """
    totals, counts = 0.0, 0.0
    for item in prepared:
        totals = totals + item.values.where(item.valid).astype("float64").sum(("time", "y", "x")).values  # (C,)
        counts = counts + float(item.valid.sum().values)
    return (np.asarray(totals) / counts if counts else np.zeros(len(prepared[0].bands))).astype(np.float32)


def fill_invalid(values: np.ndarray, valid: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Values (T, C, H, W) with every invalid pixel set to the band's fill value `fill` (C,).

    Decision (DESIGN 3 fills with the patch's mean): one constant per band, the training
    data's band mean saved in the encoder's checkpoint. A pixel's embedding then depends on
    the values in its own window and nothing else: embedded from a whole scene or from any
    crop or tile that contains its window, it is the same, so adjacent tiles meet without
    seams. (A fill from each date's mean over the cube, our first rule, changed a pixel's
    embedding by up to 0.03 when pixels far outside its window changed.) Being a property of
    the pixel and date, not of the window, it also gives a frame the same input in every
    window that contains it, which lets `cae embed` compute each frame once and run
    unpadded convolutions over whole tiles. The mask keeps filled values out of the loss.
    """
    return np.where(valid[:, None], values, np.asarray(fill, np.float32)[None, :, None, None]).astype(np.float32)
