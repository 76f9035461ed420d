"""Self-describing encoder checkpoints: weights in safetensors, a JSON that says what they are.

Loading needs no pickle: the JSON names the modality, bands, preprocessing and preset, so
the model is rebuilt from data and the tensors are read from safetensors. Files are written
beside their destination and renamed into place, so a reader never sees a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cae.atomic import write_bytes
from cae.errors import InputError

WEIGHTS_FILE = "encoder.safetensors"
METADATA_FILE = "encoder.json"
CURVE_FILE = "loss_curve.png"
#: 2: the decoder head has `head_channels` hidden channels (LeakyReLU) and no GroupNorm.
#: 3: a batch normalisation between the latent's linear layer and its Softplus; the `dense`
#: frame encoder is fully convolutional (local attention).
#: 4: `fill_values`, the band values that replace missing input (one per band, saved with
#: the encoder), instead of each date's mean over the cube being embedded; the centre path
#: (`AutoencoderPreset.centre_path`) with the band statistics it standardises with.
FORMAT_VERSION = 4
KIND = "cae-modality-encoder"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision() -> str:
    """The source tree's git commit, or 'unknown' outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def save_weights(model, path: Path) -> str:
    """Write the model's weights as safetensors, atomically; return their sha256."""
    from safetensors.torch import save

    data = save({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()})
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EncoderCheckpoint:
    """A trained modality autoencoder and the metadata it was saved with."""

    model: Any
    metadata: dict[str, Any]
    run_dir: Path

    @property
    def modality(self) -> str:
        return self.metadata["modality"]

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.metadata["bands"])


def read_description(path: Path, kind: str, missing: str) -> dict[str, Any]:
    """The JSON that says what a saved model is; refuses anything that is not one of `kind`."""
    if not path.exists():
        raise InputError(missing)
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a valid model description (truncated or corrupt: {error})") from error
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise InputError(f"{path} is not a {kind} description")
    return document


def checked_weights(path: Path, expected_sha256: str, device: str) -> dict[str, Any]:
    """Tensors of a safetensors file whose content hash is the one its description records."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise InputError(f"{path} is missing")
    if sha256_of(path) != expected_sha256:
        raise InputError(f"{path} does not match the hash in its description: the file changed or is truncated")
    try:
        return load_file(path, device=device)
    except SafetensorError as error:
        raise InputError(f"cannot read {path}: {error}") from error


def load_state(model, state: dict[str, Any], source: Path, plugin: dict[str, str] | None = None) -> None:
    """Load weights into the model the installed code builds; a mismatch is a clear refusal."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        made_by = f" (made with {plugin['package']} {plugin['version']})" if plugin else ""
        raise InputError(
            f"the weights in {source}{made_by} do not fit the model this installation builds: "
            f"{str(error).splitlines()[0]} Train it again with the installed version"
        ) from error


def read_metadata(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METADATA_FILE
    metadata = read_description(
        path, KIND, f"no trained encoder in {run_dir} ({METADATA_FILE} missing); train one with `cae train`"
    )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path} is an encoder of checkpoint format {metadata.get('format_version')}; this cae reads format "
            f"{FORMAT_VERSION}: train the encoder again with this version"
        )
    return metadata


def load_encoder(run_dir: str | os.PathLike, device: str = "cpu") -> EncoderCheckpoint:
    """Rebuild a trained encoder from its JSON and safetensors, in eval mode."""
    from cae.plugins.manager import installed_modalities
    from cae.model.autoencoder import autoencoder_for
    from cae.model.presets import AutoencoderPreset

    run_dir = Path(run_dir)
    metadata = read_metadata(run_dir)
    spec = installed_modalities().spec(metadata["modality"])
    state = checked_weights(run_dir / WEIGHTS_FILE, metadata["weights_sha256"], device)
    model = autoencoder_for(spec, len(metadata["bands"]), AutoencoderPreset.from_dict(metadata["preset"]))
    load_state(model, state, run_dir / WEIGHTS_FILE, metadata.get("plugin"))
    return EncoderCheckpoint(model.to(device).eval(), metadata, run_dir)


#: Preprocessing entries that describe the data a run saw, or how it was aligned for
#: fusion, rather than how the encoder's input is computed.
_NOT_ENCODER_INPUT = {"dates_dropped", "alignment_tolerance_days"}


def comparable_preprocessing(parameters: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in parameters.items() if key not in _NOT_ENCODER_INPUT}


def check_encoder_input(metadata: dict[str, Any], prepared) -> None:
    """Refuse a cube prepared otherwise than the encoder's training data (bands, their order, preprocessing).

    The installed plugin prepares the cube; an encoder made with another version of it may
    expect other input, and its latents would then mean nothing.
    """
    modality, plugin = metadata["modality"], metadata.get("plugin", {})
    made_with = f"{plugin.get('package', '?')} {plugin.get('version', '?')}"
    if tuple(metadata["bands"]) != tuple(prepared.bands):
        raise InputError(
            f"the {modality} cube gives the bands {list(prepared.bands)} (in this order), but the encoder was "
            f"trained on {metadata['bands']}"
        )
    trained, now = comparable_preprocessing(metadata["preprocessing"]), comparable_preprocessing(prepared.parameters)
    if trained != now:
        changed = sorted(key for key in trained.keys() | now.keys() if trained.get(key) != now.get(key))
        differences = ", ".join(f"{key}: {trained.get(key)} -> {now.get(key)}" for key in changed)
        masked = [key for key in ("invalid_scene_classes", "cloud_mask", "mask_variable") if key in changed]
        if masked:
            raise InputError(
                f"the {modality} cube is masked otherwise than the encoder's training data ({differences}): the "
                "training data had a cloud mask this cube lacks, or the other way round. Give the cube the same "
                "mask (its scene classification, or the same --mask-variable), or train an encoder on cubes like it"
            )
        raise InputError(
            f"the {modality} encoder was trained on data prepared by {made_with}; the installed plugin prepares "
            f"the cube differently ({differences}). Train the encoder again, or install the plugin version it was "
            "made with"
        )


def find_encoders(runs: Path) -> dict[str, Path]:
    """Trained encoders under `runs` (one folder each), by modality; the newest wins."""
    found: dict[str, tuple[float, Path]] = {}
    if not runs.is_dir():
        return {}
    for path in runs.glob(f"*/{METADATA_FILE}"):
        try:
            metadata = read_metadata(path.parent)
        except InputError:
            continue
        stamp = path.stat().st_mtime
        if metadata["modality"] not in found or stamp > found[metadata["modality"]][0]:
            found[metadata["modality"]] = (stamp, path.parent)
    return {name: path for name, (_, path) in found.items()}
