"""Sentinel-2 L2A: the modality whose cloud-free dates are the time axis of every sample.

Registered through the `cae.modalities` entry point, exactly as a third-party sensor is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cae import Band, LossWeights, ModalitySpec, PreparedModality, hookimpl

#: The paper's ten bands; B02 B03 B04 B08 (true colour and near infrared) are required,
#: the others are used when a cube has them (the bundled real cube has B8A and B11 only).
#: Aliases: Earth Search's names (`blue`..`swir22`, `scl`) and Earth Engine's (`B2`, `B8`);
#: Planetary Computer's and openEO's (`B02`, `b02`) match in any case.
BANDS = (
    Band("B02", "reflectance", description="blue, 490 nm, 10 m", aliases=("blue", "B2")),
    Band("B03", "reflectance", description="green, 560 nm, 10 m", aliases=("green", "B3")),
    Band("B04", "reflectance", description="red, 665 nm, 10 m", aliases=("red", "B4")),
    Band("B05", "reflectance", optional=True, description="red edge, 705 nm, 20 m", aliases=("rededge1", "rededge", "B5")),
    Band("B06", "reflectance", optional=True, description="red edge, 740 nm, 20 m", aliases=("rededge2", "B6")),
    Band("B07", "reflectance", optional=True, description="red edge, 783 nm, 20 m", aliases=("rededge3", "B7")),
    Band("B08", "reflectance", description="near infrared, 842 nm, 10 m", aliases=("nir", "B8")),
    Band("B8A", "reflectance", optional=True, description="narrow near infrared, 865 nm, 20 m", aliases=("nir08", "B08A")),
    Band("B11", "reflectance", optional=True, description="short-wave infrared, 1610 nm, 20 m", aliases=("swir16", "swir1")),
    Band("B12", "reflectance", optional=True, description="short-wave infrared, 2190 nm, 20 m", aliases=("swir22", "swir2")),
)
#: The L2A scene classification: read for cloud masking, never model input.
AUXILIARY = (
    Band("SCL", "class", optional=True, description="L2A scene classification", aliases=("scl",)),
    Band("cloud_mask", "class", optional=True, description="cloud mask of `cae cube build --cloud-mask temporal`"),
)


def preprocess(cube, mask_variable: str | None = None) -> PreparedModality:
    """Reflectance clipped to [0, 1]; clouds, shadows, saturated and no-data pixels invalid."""
    from cae.modalities.sentinel2.preprocessing import preprocess_reflectance

    return preprocess_reflectance(cube, SPEC, mask_variable)


def sample_cube() -> Path:
    """The bundled real Romania S2 cube."""
    from cae.data import demo_cube_path

    return demo_cube_path("s2")


def build_cube(paths: Sequence[Path]):
    """L2A NetCDF files of one area (any mix of 10, 20, 60 m) -> one 10 m cube."""
    from cae.modalities.sentinel2.cube import build_from_netcdf

    return build_from_netcdf(paths, SPEC)


SPEC = ModalitySpec(
    name="s2",
    title="Sentinel-2 L2A surface reflectance",
    bands=BANDS,
    preprocess=preprocess,
    latent_dim=9,
    temporal_reduction=6,
    loss_weights=LossWeights(mae=0.33, ssim=0.02, sam=0.65, center_weight=1.0),
    fusion_loss_weights=LossWeights(mae=0.665, ssim=0.02, sam=0.315, center_weight=1.75),
    defines_time_axis=True,
    build_cube=build_cube,
    raw_files=("*.nc", "*.nc4"),
    sample_cube=sample_cube,
    auxiliary=AUXILIARY,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
