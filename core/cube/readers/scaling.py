"""Digital numbers -> physical values, with the scale and offset the source declares.

Where a scale comes from, in the order it is trusted: the user's `--scale/--offset`; the
source's own declaration (CF `scale_factor`/`add_offset`, GeoTIFF scales/offsets, the STAC
raster extension); the Sentinel-2 L2A rule read from a product ID or item properties (DN /
10000, minus the BOA_ADD_OFFSET of 1000 DN from processing baseline 04.00, January 2022).
Integer values with none of these are refused: guessing a scale is how reflectance ends up
off by a factor of ten thousand. Whether the scaled values then look right is the plugin's
check (`cube check` runs it on every built cube), not a second rule set here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from cae.errors import InputError

#: L2A quantification: reflectance = (DN + BOA_ADD_OFFSET) / 10000.
L2A_SCALE = 1e-4
L2A_OFFSET_DN = -1000
#: The first processing baseline whose DN carry BOA_ADD_OFFSET.
OFFSET_BASELINE = 4.0
#: A Sentinel-2 L2A product ID: `S2A_MSIL2A_20200122T184651_N0213_R070_T11SKA_...`.
L2A_PRODUCT_ID = re.compile(r"MSIL2A_(?P<date>\d{8}T\d{6})_N(?P<baseline>\d{4})_")


@dataclass(frozen=True)
class Scaling:
    """value = stored x scale + offset; `declared_by` says who said so (recorded in the cube)."""

    scale: float = 1.0
    offset: float = 0.0
    declared_by: str = ""

    @property
    def known(self) -> bool:
        return bool(self.declared_by)

    def describe(self) -> str:
        return f"stored x {self.scale:g} + {self.offset:g} ({self.declared_by})" if self.known else "as stored"

    def apply(self, data: xr.DataArray) -> xr.DataArray:
        """`data` as float32 physical values; its dtype must have been checked first."""
        if not self.known:
            return data.astype("float32")
        return (data.astype("float64") * self.scale + self.offset).astype("float32")


def l2a_scaling(baseline: float, declared_by: str, offset_applied: bool = False) -> Scaling:
    """The L2A rule for one product: DN / 10000, minus 0.1 from baseline 04.00 on.

    `offset_applied`: the provider already subtracted the offset from the DN (Earth Search's
    `earthsearch:boa_offset_applied`), so only the scale remains.
    """
    shifted = baseline >= OFFSET_BASELINE and not offset_applied
    offset = L2A_OFFSET_DN * L2A_SCALE if shifted else 0.0
    return Scaling(L2A_SCALE, offset, f"{declared_by}: Sentinel-2 L2A, processing baseline {baseline:05.2f}")


def l2a_scaling_from_name(name: str) -> Scaling | None:
    """The L2A rule when `name` holds a Sentinel-2 L2A product ID, else None."""
    match = L2A_PRODUCT_ID.search(name)
    if match is None:
        return None
    return l2a_scaling(int(match["baseline"]) / 100, "product ID in the file name")


def user_scaling(scale: float | None, offset: float | None) -> Scaling | None:
    """`--scale/--offset` as given; None when the user gave neither."""
    if scale is None and offset is None:
        return None
    return Scaling(1.0 if scale is None else scale, offset or 0.0, "--scale/--offset")


def attribute_scaling(attrs: dict) -> Scaling | None:
    """CF / GDAL `scale_factor` and `add_offset` attributes, when they scale anything."""
    scale = float(np.atleast_1d(attrs.get("scale_factor", 1.0))[0])
    offset = float(np.atleast_1d(attrs.get("add_offset", 0.0))[0])
    if scale == 1.0 and offset == 0.0:
        return None
    return Scaling(scale, offset, "the source's scale_factor/add_offset")


def refuse_unscaled(dtype: np.dtype, scaling: Scaling, what: str) -> None:
    """Refuse integer values (digital numbers) that no one declared a scale for."""
    if np.issubdtype(dtype, np.integer) and not scaling.known:
        raise InputError(
            f"{what} holds integers ({dtype}: digital numbers) and declares no scale; pass --scale and --offset "
            "(value = DN x scale + offset; e.g. Sentinel-2 L2A: --scale 0.0001, and --offset -0.1 from processing "
            "baseline 04.00 on; Sentinel-1 dB x 10: --scale 0.1 --units dB)"
        )
