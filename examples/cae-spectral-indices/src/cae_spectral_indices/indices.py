"""Spectral indices from the Awesome Spectral Indices catalogue (through spyndex).

The formulas, the constants (EVI's gain and coefficients) and which Sentinel-2 band
stands for each of the catalogue's band symbols (N = B8, R = B4, ...) all come from the
catalogue; nothing here restates a formula. An index is computed only when the cube has
every band it needs, so a cube without B12 simply has no NBR.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

import numpy as np
import spyndex
import xarray as xr

from cae.plugins.contract import ModalitySpec, PreparedModality

#: Each index and the range it is mapped from onto [0, 1]: over reflectances in [0, 1] the
#: normalised differences span [-1, 1], kNDVI (with sigma = (N + R) / 2, it equals
#: tanh(NDVI^2)) [0, tanh 1] and NIRv [-(3 - 2 sqrt 2), 1]. EVI has no bound (its
#: denominator can vanish): it is clipped to [-1, 1], its range over land surfaces.
RANGES = {
    "NDVI": (-1.0, 1.0),
    "kNDVI": (0.0, math.tanh(1.0)),
    "NIRv": (-(3.0 - 2.0 * math.sqrt(2.0)), 1.0),
    "NDWI": (-1.0, 1.0),
    "EVI": (-1.0, 1.0),
    "NDMI": (-1.0, 1.0),
    "NBR": (-1.0, 1.0),
}

#: kNDVI's kernel terms k(a, b), as band symbol pairs: an RBF kernel with
#: sigma = (a + b) / 2, the choice of Camps-Valls et al. (2021) that the catalogue cites.
KERNEL_TERMS = {"kNN": ("N", "N"), "kNR": ("N", "R")}

_S2_BAND = re.compile(r"^B(\d{1,2})(A?)$")


def s2_band(symbol: str) -> str:
    """The catalogue's band symbol -> the cube's Sentinel-2 band name ('N' -> 'B08')."""
    number, suffix = _S2_BAND.match(spyndex.bands[symbol].sentinel2a.band).groups()
    return f"B{int(number)}A" if suffix else f"B{int(number):02d}"


def band_symbols(index: str) -> list[str]:
    """The band symbols an index is computed from, its kernel terms resolved."""
    symbols = []
    for term in spyndex.indices[index].bands:
        for symbol in KERNEL_TERMS.get(term, (term,)):
            if symbol not in spyndex.constants and symbol not in symbols:
                symbols.append(symbol)
    return symbols


def bands_needed(index: str) -> tuple[str, ...]:
    return tuple(s2_band(symbol) for symbol in band_symbols(index))


def computable(bands: Sequence[str]) -> tuple[str, ...]:
    """The indices whose bands are all among `bands`, in the order of RANGES."""
    return tuple(index for index in RANGES if set(bands_needed(index)) <= set(bands))


def compute(index: str, reflectance: dict[str, xr.DataArray]) -> xr.DataArray:
    """One index from reflectance by S2 band name, with the catalogue's formula and constants.

    Lazy (dask) bands stay lazy: the index is evaluated block by block when read.
    """
    symbols = band_symbols(index)
    return xr.apply_ufunc(
        functools.partial(_evaluate, index, symbols),
        *(reflectance[s2_band(symbol)] for symbol in symbols),
        dask="parallelized",
        output_dtypes=[np.float32],
    )


def _evaluate(index: str, symbols: list[str], *bands: np.ndarray) -> np.ndarray:
    params = dict(zip(symbols, bands))
    # Where a denominator vanishes the index is inf or NaN, which makes the pixel invalid.
    with np.errstate(divide="ignore", invalid="ignore"):
        for term in spyndex.indices[index].bands:
            if term in spyndex.constants:
                params[term] = spyndex.constants[term].default
            elif term in KERNEL_TERMS:
                a, b = (params[symbol] for symbol in KERNEL_TERMS[term])
                params[term] = spyndex.computeKernel("RBF", {"a": a, "b": b, "sigma": (a + b) / 2})
        terms = {term: params[term] for term in spyndex.indices[index].bands}
        return np.asarray(spyndex.computeIndex(index, terms), dtype=np.float32)


def to_unit_range(values: xr.DataArray, index: str) -> xr.DataArray:
    """(value - low) / (high - low), clipped to [0, 1]; non-finite values become NaN, not 0 or 1."""
    low, high = RANGES[index]
    return ((values - low) / (high - low)).where(np.isfinite(values)).clip(0.0, 1.0)


def preprocess_indices(cube: xr.Dataset, spec: ModalitySpec, mask_variable: str | None) -> PreparedModality:
    """The source modality's preprocessing (reflectance and its cloud mask), then indices.

    Starting from the S2 plugin's own preprocessing keeps one definition of what a clear
    pixel is (SCL, a user's mask variable) and of the reflectance checks.
    """
    from cae.plugins.manager import installed_modalities

    source = installed_modalities().spec(spec.derived_from).preprocess(cube, mask_variable=mask_variable)
    reflectance = {name: source.values.sel(band=name, drop=True) for name in source.bands}
    names = computable(source.bands)
    values = xr.concat([to_unit_range(compute(name, reflectance), name) for name in names], dim="band")
    values = values.assign_coords(band=list(names)).astype(np.float32)
    parameters = {
        "indices": list(names),
        "catalogue": "Awesome Spectral Indices",
        "formulas": {name: spyndex.indices[name].formula for name in names},
        "constants": {
            term: spyndex.constants[term].default
            for name in names
            for term in spyndex.indices[name].bands
            if term in spyndex.constants
        },
        "kernel": "RBF, sigma = (a + b) / 2",
        "ranges": {name: list(RANGES[name]) for name in names},
        spec.derived_from: source.parameters,
    }
    return PreparedModality(spec.name, names, values, source.valid & np.isfinite(values).all("band"), parameters)
