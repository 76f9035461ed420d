"""Daily input windows that end on the target day and see nothing after it.

Per-date inputs (e.g. an embedding on cloud-free Sentinel-2 dates) are irregular; the GPP
model reads one value per day. Interpolating a whole series first and then cutting
windows would leak the future into every window: a day between the last observation
before the target and the first one after it would be drawn towards the later one. So
each window is filled from the observations up to its target day only: days between two
such observations are interpolated linearly, days after the last of them repeat it.
A window exists when its first day has an observation at or before it and the last
observation is at most `max_staleness_days` older than the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_NONE = np.iinfo(np.int64).max


@dataclass(frozen=True)
class DailySeries:
    """Per-date observations of F inputs laid on a run of consecutive days.

    `interpolated` (D, F): linear between consecutive observations, NaN outside them;
    `held` (D, F): the latest observation on or before each day; `next_observed` (D,):
    the first observed day >= each day (a huge number if none); `last_observed` (D,): the
    latest observed day <= each day (-1 if none). Days are positions 0..D-1 on `days`.
    """

    days: pd.DatetimeIndex
    columns: tuple[str, ...]
    interpolated: np.ndarray
    held: np.ndarray
    next_observed: np.ndarray
    last_observed: np.ndarray

    @classmethod
    def of(cls, observations: pd.DataFrame, days: pd.DatetimeIndex) -> DailySeries:
        """Lay `observations` (index: dates, one column per input) on `days`.

        A date counts as observed only where every input is finite; dates outside `days`
        are ignored.
        """
        observations = observations.sort_index()
        complete = observations[np.isfinite(observations.to_numpy(np.float64)).all(axis=1)]
        positions = days.get_indexer(pd.DatetimeIndex(complete.index).normalize())
        inside = positions >= 0
        positions, values = positions[inside], complete.to_numpy(np.float64)[inside]
        n_days, n_inputs = len(days), observations.shape[1]
        interpolated = np.full((n_days, n_inputs), np.nan)
        held = np.full((n_days, n_inputs), np.nan)
        next_observed = np.full(n_days, _NONE, dtype=np.int64)
        last_observed = np.full(n_days, -1, dtype=np.int64)
        if len(positions):
            everyday = np.arange(n_days)
            for column in range(n_inputs):
                interpolated[:, column] = np.interp(everyday, positions, values[:, column], left=np.nan, right=np.nan)
            after = np.searchsorted(positions, everyday, side="left")  # first observation >= day
            has_next = after < len(positions)
            next_observed[has_next] = positions[after[has_next]]
            before = np.searchsorted(positions, everyday, side="right") - 1  # last observation <= day
            has_last = before >= 0
            last_observed[has_last] = positions[before[has_last]]
            held[has_last] = values[before[has_last]]
        return cls(days, tuple(observations.columns), interpolated, held, next_observed, last_observed)

    def windows(self, targets: np.ndarray, length: int) -> np.ndarray:
        """(N, length, F) inputs of the windows ending on the target days `targets` (positions).

        Day s of the window of target t takes the interpolated value when the observation
        after s is at or before t, else the last observation before s: values built from
        observations up to t only. NaN where a window has no value (see `complete`).
        """
        targets = np.asarray(targets, dtype=np.int64)
        offsets = np.arange(length) - (length - 1)
        days = targets[:, None] + offsets[None, :]  # (N, length)
        clipped = np.clip(days, 0, len(self.days) - 1)
        seen = (self.next_observed[clipped] <= targets[:, None]) & (days >= 0)
        values = np.where(seen[..., None], self.interpolated[clipped], self.held[clipped])
        return np.where((days >= 0)[..., None], values, np.nan)

    def complete(self, length: int, max_staleness_days: int) -> np.ndarray:
        """(D,) whether a full window of `length` days ends on each day."""
        everyday = np.arange(len(self.days))
        first = everyday - (length - 1)
        has_start = (first >= 0) & (self.last_observed[np.clip(first, 0, None)] >= 0)
        fresh = (self.last_observed >= 0) & (everyday - self.last_observed <= max_staleness_days)
        return has_start & fresh


@dataclass(frozen=True)
class JoinedSeries:
    """Several DailySeries on the same days read as one input set: their windows side by side.

    Joining the observations into one table instead would count a day as observed only
    where every part is, so daily meteorology joined to per-date features would be
    interpolated between the feature dates; each part keeps its own observed days here.
    Whether a window is complete depends on each part's staleness: the caller asks the parts.
    """

    parts: tuple[DailySeries, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for part in self.parts for column in part.columns)

    def windows(self, targets: np.ndarray, length: int) -> np.ndarray:
        """(N, length, F1 + F2 + ...) the parts' windows (`DailySeries.windows`) concatenated."""
        return np.concatenate([part.windows(targets, length) for part in self.parts], axis=-1)
