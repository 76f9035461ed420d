"""A cloud and shadow mask from the time series itself, for optical cubes that have none.

Exports such as Earth Engine's often carry four bands (B02 B03 B04 B08) and no scene
classification. Cloud-mask libraries need more (s2cloudless: ten L1C bands; omnicloudmask:
red, green and NIR, with weights downloaded at run time; docs/data.md), so cae falls back on
a test that needs no weights: a pixel-date is an outlier against the same pixel's
neighbouring clear dates (the median of a window of `WINDOW_DATES` dates centred on it).

- cloud: blue is brighter than that reference by more than `BLUE_RISE` and the visible
  bands together by more than `VISIBLE_RISE` (clouds brighten blue most, surfaces rarely
  change that way between neighbouring dates; the brightness rule keeps blue-only noise out);
- shadow: NIR darker by more than `NIR_DROP` and all four bands together darker than
  `SHADOW_DARKENING` times the reference (a shadow darkens every band; a harvest darkens
  NIR but brightens red).

The reference is recomputed `PASSES` times from the dates still counted clear, so a
cloudy neighbour does not raise it. Measured against the L2A scene classification on the
Romania cube (tests/cube/test_cloudmask.py): cloud precision 0.69, recall 0.86.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from cae.errors import InputError

#: The name of the mask variable cae writes into a cube: 0 clear, 1 cloud, 2 shadow.
CLOUD_MASK = "cloud_mask"
CLEAR, CLOUD, SHADOW = 0, 1, 2

#: Blue, green, red, near infrared.
BANDS = ("B02", "B03", "B04", "B08")
WINDOW_DATES = 11
PASSES = 2
BLUE_RISE = 0.04
VISIBLE_RISE = 0.03
NIR_DROP = 0.04
SHADOW_DARKENING = 0.6


def temporal_cloud_mask(cube: xr.Dataset) -> xr.DataArray:
    """(time, y, x) uint8: CLOUD or SHADOW where a pixel-date departs from its neighbouring clear dates.

    `cube` holds reflectance in [0, 1]; no-data (NaN) pixel-dates are left CLEAR here, as
    they are invalid anyway.
    """
    missing = [name for name in BANDS if name not in cube.data_vars]
    if missing:
        raise InputError(
            f"the temporal cloud test needs the bands {', '.join(BANDS)}; the cube lacks {', '.join(missing)}"
        )
    bands = {name: cube[name].astype("float32").transpose("time", "y", "x") for name in BANDS}
    clear = xr.ones_like(bands["B02"], dtype=bool)
    for _ in range(PASSES):
        reference = {name: _neighbouring_clear_median(values, clear) for name, values in bands.items()}
        rise = {name: bands[name] - reference[name] for name in BANDS}
        visible_rise = (rise["B02"] + rise["B03"] + rise["B04"]) / 3
        cloud = (rise["B02"] > BLUE_RISE) & (visible_rise > VISIBLE_RISE)
        darkening = sum(bands.values()) < SHADOW_DARKENING * sum(reference.values())
        shadow = (rise["B08"] < -NIR_DROP) & darkening & ~cloud
        clear = ~(cloud | shadow)
    mask = xr.where(cloud, CLOUD, xr.where(shadow, SHADOW, CLEAR)).astype("uint8")
    mask.attrs = {
        "long_name": "cloud and shadow mask",
        "flag_values": [CLEAR, CLOUD, SHADOW],
        "flag_meanings": "clear cloud shadow",
        "method": "temporal",
        "test": (
            f"against the median of the pixel's clear dates in a {WINDOW_DATES}-date window ({PASSES} passes): "
            f"cloud where B02 rises > {BLUE_RISE} and B02-B04 on average > {VISIBLE_RISE}; shadow where B08 drops "
            f"> {NIR_DROP} and the four bands sum < {SHADOW_DARKENING} x the reference"
        ),
    }
    return mask


def _neighbouring_clear_median(values: xr.DataArray, clear: xr.DataArray) -> xr.DataArray:
    """Each pixel-date's reference: the median of the clear dates around it, else of all its clear dates.

    bottleneck's moving median (NaN ignored) is a trailing window; padding the end by half
    a window and shifting centres it. xarray's own rolling median was 20 times slower here.
    """
    import bottleneck

    clear_values = values.where(clear)
    half = WINDOW_DATES // 2
    padded = np.pad(clear_values.values, ((0, half), (0, 0), (0, 0)), constant_values=np.nan)
    moving = bottleneck.move_median(padded, WINDOW_DATES, min_count=1, axis=0)[half:]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: their median is NaN, as wanted
        whole_series = np.nanmedian(clear_values.values, axis=0)
    return values.copy(data=np.where(np.isnan(moving), whole_series, moving))

