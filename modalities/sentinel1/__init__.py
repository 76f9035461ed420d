"""Sentinel-1 GRD/RTC backscatter (VV, VH): aligned to the time axis of another modality.

Registered through the `cae.modalities` entry point, exactly as a third-party sensor is.
Works on the polarisations a cube has (the bundled real series is VH only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cae import Band, LossWeights, ModalitySpec, PreparedModality, SamplingDefaults, hookimpl

BANDS = (
    Band("VV", "linear power or dB (attrs units)", optional=True, description="co-polarised backscatter",
         aliases=("sigma0_vv", "gamma0_vv")),
    Band("VH", "linear power or dB (attrs units)", optional=True, description="cross-polarised backscatter",
         aliases=("sigma0_vh", "gamma0_vh")),
)


def preprocess(cube, mask_variable: str | None = None) -> PreparedModality:
    """Linear power -> 3-acquisition centred rolling mean -> dB -> clip [-30, 5] -> [0, 1]."""
    from cae.modalities.sentinel1.preprocessing import preprocess_backscatter

    return preprocess_backscatter(cube, SPEC, mask_variable)


def sample_cube() -> Path:
    """The bundled real Poland S1 VH cube."""
    from cae.data import demo_cube_path

    return demo_cube_path("s1")


def build_cube(paths: Sequence[Path]):
    """Sigma0 GeoTIFF scenes (one file per polarisation and slice) -> a cube, read with torchgeo."""
    from cae.modalities.sentinel1.cube import build_from_geotiffs

    return build_from_geotiffs(paths, SPEC)


SPEC = ModalitySpec(
    name="s1",
    title="Sentinel-1 C-band backscatter",
    bands=BANDS,
    preprocess=preprocess,
    latent_dim=2,
    temporal_reduction=7,
    loss_weights=LossWeights(mae=1.0, center_weight=1.0),
    fusion_loss_weights=LossWeights(mae=1.0, center_weight=1.5),
    # S1-only training: windows of 40 acquisitions, stride 40; patches with stride 15 (DESIGN 3).
    sampling=SamplingDefaults(window_dates=40, window_stride=40, patch_stride=15),
    alignment_tolerance_days=12.0,
    build_cube=build_cube,
    raw_files=("SIG0_*.tif",),
    sample_cube=sample_cube,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
