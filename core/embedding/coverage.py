"""Which pixel-dates of a cube will get an embedding, said before anything runs.

A pixel-date is embedded only with full context: 5 dates on each side inside the series,
the encoder's reach in pixels on each side inside the cube (7 for the paper's 15 x 15
windows), and a valid (cloud-free) centre. The rest never gets one; on a small crop that
can be a third of it, so `cae cube check` and `cae embed --dry-run` print this count up front.
With `cae embed --series-ends` the end dates are embedded too (windows repeating the
series' first or last date), and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from cae.geometry import CENTER_DATE, CENTER_PIXEL

#: Dates named one by one when a whole date goes unembedded for clouds; more are counted.
LISTED_DATES = 5


@dataclass(frozen=True)
class Coverage:
    """Counts of pixel-dates: `embedded` + `end_dates` + `border` + `invalid` == `total`."""

    total: int
    embedded: int
    #: At the first and last `context_dates` dates of the series (all pixels).
    end_dates: int
    #: Within `reach` pixels of an edge, on the other dates.
    border: int
    #: Inside both, but with a cloudy or missing centre.
    invalid: int
    reach: int
    context_dates: int
    #: The dates at either end of the series that are never embedded.
    first_dates: tuple[pd.Timestamp, ...]
    last_dates: tuple[pd.Timestamp, ...]
    #: Dates inside the series on which no pixel can be embedded (all centres invalid).
    empty_dates: tuple[pd.Timestamp, ...]
    #: With series ends embedded: how many of `embedded` lie at the ends (else 0).
    series_ends: int = 0

    def lines(self) -> list[str]:
        """What the commands print: the total, then each reason with its count."""
        def share(count: int) -> str:
            return f"{count:,} ({count / self.total:.1%})" if self.total else "0"

        def days(dates) -> str:
            return ", ".join(str(date.date()) for date in dates)

        ends, end_dates = f"first and last {self.context_dates} dates", f"{days(self.first_dates)} and {days(self.last_dates)}"
        head = f"{share(self.embedded)} of {self.total:,} pixel-dates will get an embedding"
        if self.series_ends:
            head += f", {share(self.series_ends)} of them at the {ends} ({end_dates}) by windows that repeat the series' end date"
        lines = [head + "; never embedded:"]
        if not self.series_ends:
            lines.append(f"  {ends} (no full context): {share(self.end_dates)}: {end_dates}")
        lines += [
            f"  {self.reach}-pixel border (no full window): {share(self.border)}",
            f"  cloudy or missing centres: {share(self.invalid)}",
        ]
        if self.empty_dates:
            more = len(self.empty_dates) - LISTED_DATES
            lines.append(f"  dates with no embedded pixel at all: {days(self.empty_dates[:LISTED_DATES])}"
                         + (f" and {more} more" if more > 0 else ""))
        return lines


def coverage(valid: xr.DataArray, reach: int = CENTER_PIXEL, context_dates: int = CENTER_DATE,
             series_ends: bool = False) -> Coverage:
    """Coverage of a cube whose usable centres are `valid` (time, y, x; True: cloud-free),
    for windows reaching `reach` pixels and `context_dates` dates on each side (with
    `series_ends`, the end dates embedded as well)."""
    if series_ends:
        ends = coverage(valid, reach, context_dates)
        every_date = coverage(valid, reach, 0)
        return replace(every_date, context_dates=context_dates, first_dates=ends.first_dates, last_dates=ends.last_dates,
                       series_ends=every_date.embedded - ends.embedded)
    n_times, height, width = (valid.sizes[dim] for dim in ("time", "y", "x"))
    times = pd.DatetimeIndex(valid["time"].values)
    inner_dates = max(n_times - 2 * context_dates, 0)
    inner_pixels = max(height - 2 * reach, 0) * max(width - 2 * reach, 0)
    inner = valid.isel(time=slice(context_dates, context_dates + inner_dates),
                       y=slice(reach, height - reach), x=slice(reach, width - reach))
    per_date = np.asarray(inner.sum(("y", "x")).values) if inner_pixels and inner_dates else np.zeros(0, int)
    embedded = int(per_date.sum())
    total = n_times * height * width
    end_dates = (n_times - inner_dates) * height * width
    border = inner_dates * (height * width - inner_pixels)
    edges = min(context_dates, n_times)
    return Coverage(
        total=total,
        embedded=embedded,
        end_dates=end_dates,
        border=border,
        invalid=total - end_dates - border - embedded,
        reach=reach,
        context_dates=context_dates,
        first_dates=tuple(times[:edges]),
        last_dates=tuple(times[max(n_times - edges, edges):]),
        empty_dates=tuple(times[context_dates:context_dates + inner_dates][per_date == 0]) if inner_pixels else (),
    )
