"""Spectral indices of Sentinel-2 as a cae modality, registered through an entry point.

The indices are computed from the S2 cube itself (`derived_from="s2"`): no cube of their
own is needed, and fusion reads them from the same cube as the S2 encoder.
"""

from __future__ import annotations

from pathlib import Path

from cae import Band, LossWeights, ModalitySpec, PreparedModality, hookimpl

#: The S2 bands the indices are computed from. Every index needs B04 and B08; the others
#: add the indices that use them when a cube has them.
BANDS = (
    Band("B02", "reflectance", optional=True, description="blue: EVI"),
    Band("B03", "reflectance", optional=True, description="green: NDWI"),
    Band("B04", "reflectance", description="red: NDVI, kNDVI, NIRv, EVI"),
    Band("B08", "reflectance", description="near infrared: every index"),
    Band("B11", "reflectance", optional=True, description="short-wave infrared 1: NDMI"),
    Band("B12", "reflectance", optional=True, description="short-wave infrared 2: NBR"),
)


def preprocess(cube, mask_variable: str | None = None) -> PreparedModality:
    """Each index the cube's bands allow, mapped into [0, 1]; valid where S2 is clear."""
    from cae_spectral_indices.indices import preprocess_indices

    return preprocess_indices(cube, SPEC, mask_variable)


def sample_cube() -> Path:
    """The sample cube of the source modality: indices read S2 cubes."""
    from cae.plugins.manager import installed_modalities

    return installed_modalities().spec(SPEC.derived_from).sample_cube()


SPEC = ModalitySpec(
    name="indices",
    title="Sentinel-2 spectral indices (Awesome Spectral Indices)",
    bands=BANDS,
    preprocess=preprocess,
    latent_dim=4,
    temporal_reduction=6,
    # The indices are not a spectrum, so the spectral angle (SAM) means nothing here.
    loss_weights=LossWeights(mae=1.0),
    fusion_loss_weights=LossWeights(mae=1.0, center_weight=1.75),
    derived_from="s2",
    sample_cube=sample_cube,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
