"""Fusion checkpoints: fusion weights, and the exact encoders they were trained over.

Each encoder is recorded by modality, plugin version, bands, preprocessing and the sha256
of its weights. Loading refuses an encoder that differs in any of these: a fusion model
is only meaningful over the very latents it learnt to fuse.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cae.checkpoint import (
    EncoderCheckpoint,
    checked_weights,
    comparable_preprocessing,
    load_encoder,
    load_state,
    read_description,
    read_metadata,
    sha256_of,
)
from cae.checkpoint import WEIGHTS_FILE as ENCODER_WEIGHTS
from cae.errors import InputError

FUSION_WEIGHTS = "fusion.safetensors"
FUSION_METADATA = "fusion.json"
FUSION_KIND = "cae-fusion"


def encoder_record(checkpoint: EncoderCheckpoint, fusion_dir: Path) -> dict[str, Any]:
    """What a fusion checkpoint in `fusion_dir` remembers of one encoder.

    The encoder's folder is recorded relative to the fusion folder (`../s2` for the usual
    `runs/` layout), so a runs folder keeps working when it is moved or shipped as a whole,
    and as an absolute path, so a fusion folder copied alone still finds its encoders on
    this machine (`encoder_folder`). The weights' hash decides whether it is the right one.
    """
    metadata = checkpoint.metadata
    return {
        "run_dir": os.path.relpath(checkpoint.run_dir.resolve(), fusion_dir.resolve()),
        "absolute_run_dir": str(checkpoint.run_dir.resolve()),
        "weights_sha256": metadata["weights_sha256"],
        "bands": metadata["bands"],
        "preprocessing": comparable_preprocessing(metadata["preprocessing"]),
        "plugin": metadata["plugin"],
        "preset": metadata["preset"]["name"],
        "latent_dim": metadata["latent_dim"],
    }


@dataclass(frozen=True)
class FusionCheckpoint:
    model: Any
    encoders: dict[str, EncoderCheckpoint]
    metadata: dict[str, Any]


def verified_encoder(modality: str, record: dict[str, Any], run_dir: Path, device: str = "cpu") -> EncoderCheckpoint:
    """Load the encoder at `run_dir` and check it is the one `record` describes."""
    from cae.plugins.manager import installed_modalities

    registry = installed_modalities()
    if modality not in registry.modalities:
        plugin = record["plugin"]
        raise InputError(
            f"this fusion model needs modality {modality!r} (plugin {plugin['package']} {plugin['version']}), "
            "which is not installed; install it or train fusion again without it"
        )
    if not (Path(run_dir) / ENCODER_WEIGHTS).exists():
        raise InputError(f"the {modality} encoder this fusion model was trained over is gone from {run_dir}")
    metadata = read_metadata(Path(run_dir))
    problems = []
    if sha256_of(Path(run_dir) / ENCODER_WEIGHTS) != record["weights_sha256"]:
        problems.append("its weights changed (content hash differs)")
    if metadata["bands"] != record["bands"]:
        problems.append(f"its bands are {metadata['bands']}, not {record['bands']}")
    if comparable_preprocessing(metadata["preprocessing"]) != record["preprocessing"]:
        problems.append("its preprocessing differs")
    if problems:
        raise InputError(
            f"the {modality} encoder in {run_dir} is not the one this fusion model was trained over: "
            + "; ".join(problems)
            + ". Train fusion again over the current encoders (`cae train --fusion`)"
        )
    return load_encoder(run_dir, device=device)


def encoder_folder(record: dict[str, Any], fusion_dir: Path) -> Path:
    """The folder of an encoder `record`: beside the fusion folder as recorded, else where it was
    when fusion trained (older checkpoints record only that, as `run_dir`)."""
    relative = fusion_dir / record["run_dir"]  # an absolute run_dir replaces fusion_dir
    if (relative / ENCODER_WEIGHTS).exists() or "absolute_run_dir" not in record:
        return relative
    return Path(record["absolute_run_dir"])


def encoder_folders(run_dir: Path) -> list[Path]:
    """The encoder folders the fusion model in `run_dir` reads (none when it has no readable
    description: loading it then says why)."""
    try:
        records = json.loads((Path(run_dir) / FUSION_METADATA).read_text())["encoders"].values()
    except (OSError, ValueError, KeyError, AttributeError):
        return []
    return [encoder_folder(record, Path(run_dir)) for record in records]


def load_fusion(run_dir: str | os.PathLike, device: str = "cpu", encoder_dirs: dict[str, Path] | None = None) -> FusionCheckpoint:
    """Rebuild a fusion model and its verified, frozen encoders (no pickle anywhere)."""
    from cae.fusion.model import FusionModel, FusionPreset

    run_dir = Path(run_dir)
    metadata = read_description(
        run_dir / FUSION_METADATA,
        FUSION_KIND,
        f"no fusion model in {run_dir} ({FUSION_METADATA} missing); train one with `cae train --fusion`",
    )
    encoders = {
        name: verified_encoder(name, record, (encoder_dirs or {}).get(name) or encoder_folder(record, run_dir), device)
        for name, record in metadata["encoders"].items()
    }
    state = checked_weights(run_dir / FUSION_WEIGHTS, metadata["weights_sha256"], device)
    model = FusionModel(
        {name: record["latent_dim"] for name, record in metadata["encoders"].items()},
        FusionPreset(**metadata["fusion_preset"]),
    )
    load_state(model, state, run_dir / FUSION_WEIGHTS)
    return FusionCheckpoint(model.to(device).eval(), encoders, metadata)
