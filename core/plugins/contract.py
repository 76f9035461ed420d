"""The modality interface: everything the core needs to know about one sensor.

A plugin describes its sensor with a frozen `ModalitySpec` and registers it through the
`register_modalities` hook. The spec holds metadata and plain callables only; heavy modules
(xarray, torch) are imported inside those callables, so listing modalities stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Band:
    """One input channel of a sensor."""

    name: str
    unit: str
    optional: bool = False
    description: str = ""
    #: Other names sources give this band (Earth Search `red`, Earth Engine `B4`); matched
    #: case-insensitively by `cae.cube.aliases`, so every command accepts them.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the reconstruction loss terms and the centre weight lambda_c (DESIGN 4)."""

    mae: float
    ssim: float = 0.0
    sam: float = 0.0
    center_weight: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def valid(self) -> bool:
        """Terms >= 0 with a positive sum, and a positive centre weight."""
        terms = (self.mae, self.ssim, self.sam)
        return min(terms) >= 0 and sum(terms) > 0 and self.center_weight > 0


@dataclass(frozen=True)
class SamplingDefaults:
    """How training patches are cut from a cube (DESIGN 3).

    Training slides a window of `window_dates` valid dates (stride `window_stride`) and a
    15 x 15 window (stride `patch_stride`) over the cube and draws 11 of the window's dates.
    """

    window_dates: int = 20
    window_stride: int = 17
    patch_stride: int = 9
    max_span_days: int = 200

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class PreparedModality:
    """A cube after preprocessing: model input in [0, 1] plus where it is valid.

    `values` is (time, band, y, x) float32, NaN wherever `valid` (time, y, x) is False.
    `offset_days` is set once the modality has been aligned to another modality's dates:
    the signed day gap between the acquisition used and each target date, NaN where no
    acquisition lay within the tolerance (the modality is missing on that date).
    """

    modality: str
    bands: tuple[str, ...]
    values: xr.DataArray
    valid: xr.DataArray
    parameters: dict[str, Any] = field(default_factory=dict)
    offset_days: np.ndarray | None = None

    @property
    def times(self) -> np.ndarray:
        return self.valid["time"].values


PreprocessFunction = Callable[..., PreparedModality]
"""(cube, mask_variable=None) -> PreparedModality; values in [0, 1] with a validity mask."""

BuildCubeFunction = Callable[[Sequence[Path]], "xr.Dataset"]
"""Raw files of a sensor -> a cube (time, y, x), one variable per band, with a CRS."""

SampleCubeFunction = Callable[[], Path]
"""() -> path of a small real cube this modality reads (zarr or NetCDF)."""


@dataclass(frozen=True)
class ModalitySpec:
    """What a sensor plugin declares; the core never special-cases a sensor beyond this."""

    name: str
    title: str
    bands: tuple[Band, ...]
    preprocess: PreprocessFunction
    latent_dim: int
    temporal_reduction: int
    loss_weights: LossWeights
    fusion_loss_weights: LossWeights
    sampling: SamplingDefaults = SamplingDefaults()
    default_preset: str = "paper"
    min_bands: int = 1
    #: The valid dates of this modality are the time axis of every sample (S2's role).
    defines_time_axis: bool = False
    #: Dates valid on less than this fraction of the cube are dropped from the time axis.
    min_valid_fraction: float = 0.03
    #: A modality aligned to the time axis is missing on dates farther than this.
    alignment_tolerance_days: float = 12.0
    build_cube: BuildCubeFunction | None = None
    #: File name patterns (globs) of the sensor's own raw files that `build_cube` reads; other
    #: layouts (GeoTIFF folders, STAC, xarray datasets) go to the generic readers (`cae.cube.readers`).
    raw_files: tuple[str, ...] = ()
    #: The modality whose cubes this one is computed from (e.g. spectral indices from `s2`
    #: reflectance): it reads those cubes, never claims a cube by its bands, and in fusion
    #: it is read from the same cube as its source.
    derived_from: str | None = None
    #: A small real cube this modality reads: what the modality contract test checks it
    #: on, and what `cae train --modality NAME` trains on when no --cube is given.
    sample_cube: SampleCubeFunction | None = None
    #: Variables the preprocessing reads besides the bands (S2's scene classification), with
    #: their aliases: renamed like bands, never model input.
    auxiliary: tuple[Band, ...] = ()

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(band.name for band in self.bands)

    @property
    def required_bands(self) -> tuple[str, ...]:
        return tuple(band.name for band in self.bands if not band.optional)

    def bands_in(self, variables: Sequence[str]) -> tuple[str, ...]:
        """The spec's bands present among `variables`, in the spec's order."""
        present = set(variables)
        return tuple(name for name in self.band_names if name in present)

    def problems(self) -> list[str]:
        """Why this spec is unusable; empty when it is valid."""
        found = []
        if not isinstance(self.name, str) or not _NAME_PATTERN.match(self.name):
            found.append(f"name {self.name!r} must be lower-case letters, digits and '_'")
        names = [band.name for band in self.bands]
        if not names:
            found.append("declares no bands")
        if len(set(names)) != len(names):
            found.append(f"band names repeat: {names}")
        spellings: dict[str, set[str]] = {}
        for band in (*self.bands, *self.auxiliary):
            for spelling in (band.name, *band.aliases):
                spellings.setdefault(spelling.lower(), set()).add(band.name)
        found += [f"{spelling!r} names {' and '.join(sorted(owners))} (names and aliases match in any case)"
                  for spelling, owners in spellings.items() if len(owners) > 1]
        if not 1 <= self.min_bands <= max(len(names), 1):
            found.append(f"min_bands={self.min_bands} does not fit its {len(names)} bands")
        if not callable(self.preprocess):
            found.append("preprocess is not callable")
        if self.build_cube is not None and not callable(self.build_cube):
            found.append("build_cube is not callable")
        if self.sample_cube is not None and not callable(self.sample_cube):
            found.append("sample_cube is not callable")
        if self.derived_from is not None and (
            not isinstance(self.derived_from, str)
            or not _NAME_PATTERN.match(self.derived_from)
            or self.derived_from == self.name
        ):
            found.append(f"derived_from {self.derived_from!r} must name another modality")
        if self.latent_dim < 1 or self.temporal_reduction < 1:
            found.append("latent_dim and temporal_reduction must be >= 1")
        for label, weights in (("loss", self.loss_weights), ("fusion loss", self.fusion_loss_weights)):
            if not weights.valid:
                found.append(f"{label} weights must be >= 0 with a positive sum: {weights}")
        if not 0 <= self.min_valid_fraction <= 1:
            found.append(f"min_valid_fraction {self.min_valid_fraction} is not in [0, 1]")
        return found
