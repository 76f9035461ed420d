"""What a band's values look like, over the whole cube: the evidence for scale checks.

Plugins decide what their values must look like (Sentinel-2 reflectance in [0, 1], Sentinel-1
power in linear units or dB); this module only measures, the same way for all of them. The
sample is every pixel of up to `SAMPLE_DATES` dates spread evenly over the series, not its
first dates: STAC loaders fill the first dates of a series with nodata as often as not
(odc-stac with 0, stackstac with NaN), and one band can be scaled otherwise than the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

#: Dates read per band to describe its values (all of them in a shorter cube), and the most
#: pixels kept of them (a regular grid of pixels in a larger cube).
SAMPLE_DATES = 16
SAMPLE_VALUES = 2_000_000


@dataclass(frozen=True)
class ValueSummary:
    """Finite, non-zero values of one band (exact zeros are nodata in most loaders' fills)."""

    count: int
    median: float = float("nan")
    high: float = float("nan")  # the 99th percentile
    negative_share: float = 0.0
    whole_share: float = 0.0  # share of whole numbers: reflectance cast to integers before scaling

    def describe(self) -> str:
        return f"median {self.median:.4g}, 99th percentile {self.high:.4g}, {self.negative_share:.1%} negative"


def summarise(band: xr.DataArray, dates: int = SAMPLE_DATES) -> ValueSummary:
    """The `ValueSummary` of `band` (dims time, y, x) on `dates` dates spread over its series."""
    picks = np.unique(np.linspace(0, band.sizes["time"] - 1, min(dates, band.sizes["time"])).round().astype(int))
    step = max(1, int(np.ceil(np.sqrt(len(picks) * band.sizes["y"] * band.sizes["x"] / SAMPLE_VALUES))))
    sample = band.isel(time=picks, y=slice(None, None, step), x=slice(None, None, step))
    values = np.asarray(sample.values, dtype="float64").ravel()
    values = values[np.isfinite(values) & (values != 0)]
    if values.size == 0:
        return ValueSummary(0)
    median, high = np.percentile(values, [50, 99])
    return ValueSummary(
        count=int(values.size),
        median=float(median),
        high=float(high),
        negative_share=float((values < 0).mean()),
        whole_share=float((values == np.round(values)).mean()),
    )
