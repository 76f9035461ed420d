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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cae.errors import InputError

WEIGHTS_FILE = "encoder.safetensors"
METADATA_FILE = "encoder.json"
CURVE_FILE = "loss_curve.png"
#: 2: the decoder head has `head_channels` hidden channels (LeakyReLU) and no GroupNorm.
FORMAT_VERSION = 2
KIND = "cae-modality-encoder"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is either the old file or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


def atomic_write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(document, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")


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
    atomic_write_bytes(path, data)
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


def read_metadata(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METADATA_FILE
    if not path.exists():
        raise InputError(f"no trained encoder in {run_dir} ({METADATA_FILE} missing); train one with `cae train`")
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a valid encoder description: {error}") from error
    if metadata.get("kind") != KIND:
        raise InputError(f"{path} does not describe a cae modality encoder")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path} is an encoder of checkpoint format {metadata.get('format_version')}; this cae reads format "
            f"{FORMAT_VERSION}: train the encoder again with this version"
        )
    return metadata


def load_encoder(run_dir: str | os.PathLike, device: str = "cpu") -> EncoderCheckpoint:
    """Rebuild a trained encoder from its JSON and safetensors, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cae.plugins import installed_modalities
    from cae.presets import AutoencoderPreset

    run_dir = Path(run_dir)
    metadata = read_metadata(run_dir)
    spec = installed_modalities().spec(metadata["modality"])
    weights = run_dir / WEIGHTS_FILE
    if not weights.exists():
        raise InputError(f"{weights} is missing")
    if sha256_of(weights) != metadata["weights_sha256"]:
        raise InputError(f"{weights} does not match the hash in {METADATA_FILE}: the file changed or is truncated")
    model = spec.create_model(len(metadata["bands"]), AutoencoderPreset.from_dict(metadata["preset"]))
    try:
        state = load_file(weights, device=device)
    except SafetensorError as error:
        raise InputError(f"cannot read {weights}: {error}") from error
    model.load_state_dict(state, strict=True)
    return EncoderCheckpoint(model.to(device).eval(), metadata, run_dir)


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
