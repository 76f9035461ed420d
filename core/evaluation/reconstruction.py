"""Reconstruction of held-out patches: each trained autoencoder against PCA (DESIGN 7).

A latent is only worth its size if it beats a linear code of the same size. PCA with as
many components as the encoder's latent is fitted on the encoder's own training samples
(the patches of its first training epoch, from its training blocks) and both reconstruct
the same held-out patches: the test blocks the training run recorded, as inference sees
them (11 consecutive dates around each valid centre). A third row predicts every value
of a patch as its band mean, the floor below which a model has learnt nothing.

Scores: centre MAE (the validation metric: the centre pixel at the centre date, averaged
over bands, in model input units [0, 1]); SAM, the spectral angle in radians at that
same position (not defined for one band); SSIM, the mean structural similarity of every
band of every date's whole 15 x 15 frame (1 = identical), as the training loss computes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cae.errors import InputError
from cae.evaluation.output import markdown_table, number

REPORT_JSON, REPORT_MARKDOWN = "reconstruction.json", "reconstruction.md"
KIND = "cae-reconstruction-evaluation"
METHODS = ("autoencoder", "pca", "patch_mean")
UNITS = {
    "center_mae": "mean absolute error at the centre pixel and date, model input units [0, 1]",
    "sam": "spectral angle at the centre pixel and date, radians",
    "ssim": "mean SSIM over the bands of the 11 whole 15 x 15 frames (1 = identical)",
}


def encoders_in(model: Path) -> dict[str, Path]:
    """The encoder run folder `model`, or every trained encoder in a folder of runs."""
    from cae.checkpoint import METADATA_FILE, find_encoders, read_metadata

    if (model / METADATA_FILE).exists():
        return {read_metadata(model)["modality"]: model}
    found = find_encoders(model)
    if not found:
        raise InputError(f"no trained encoder in {model} (neither {METADATA_FILE} nor run folders holding one)")
    return dict(sorted(found.items()))


def recorded_mask_variable(metadata: dict[str, Any]) -> str | None:
    """The mask variable the encoder was trained with: its cubes are read with it again, and
    any other cube must have it too (a cube masked otherwise is refused)."""
    return metadata["preprocessing"].get("mask_variable")


def training_split(metadata: dict[str, Any], halo: int):
    """The encoder's training sources and block split, rebuilt exactly as training made them."""
    from cae.samples.blocks import SpatialBlock
    from cae.training.data import data_fingerprint, load_sources, recorded_blocks

    cubes = metadata["data"]["cubes"]
    gone = [path for path in cubes if not Path(path).exists()]
    if gone:
        raise InputError(
            f"the training cubes of the {metadata['modality']} encoder are gone ({', '.join(gone)}): "
            "its held-out blocks and the PCA's training split come from them"
        )
    _, sources = load_sources(metadata["modality"], cubes, halo, metadata["fill_values"], recorded_mask_variable(metadata))
    if data_fingerprint(sources) != metadata["data"]["fingerprint"]:
        raise InputError(
            f"the training cubes of the {metadata['modality']} encoder changed since it was trained "
            "(their fingerprint differs), so its held-out blocks are no longer known"
        )
    # The split as the run recorded it (the data is the same: its fingerprint matches), so a
    # change in how cae splits never moves an existing encoder's held-out blocks.
    split = {name: [SpatialBlock.parse(text) for text in blocks] for name, blocks in recorded_blocks(metadata).items()}
    return sources, split


def _evaluation_positions(metadata: dict[str, Any], halo: int, sources, split, cubes: list[Path] | None):
    """Held-out positions: the recorded test blocks of training cubes, all of any other cube."""
    from cae.checkpoint import check_encoder_input
    from cae.samples.datasets import held_out_positions
    from cae.samples.blocks import spatial_blocks
    from cae.training.data import load_sources

    spacing = metadata["training"]["test_spacing"]
    trained_on = {str(Path(path).resolve()): Path(path).name for path in metadata["data"]["cubes"]}
    if cubes is None:
        return held_out_positions(sources, split["test"], spacing), [block.name for block in split["test"]]
    positions, names = [], []
    for cube in cubes:
        if str(Path(cube).resolve()) in trained_on:
            blocks = [block for block in split["test"] if block.cube == trained_on[str(Path(cube).resolve())]]
            positions += held_out_positions(sources, blocks, spacing)
        else:
            _, other = load_sources(metadata["modality"], [cube], halo, metadata["fill_values"],
                                    recorded_mask_variable(metadata))
            source = next(iter(other.values()))
            check_encoder_input(metadata, source.prepared[metadata["modality"]])
            height, width = source.valid.shape[1:]
            blocks = spatial_blocks(source.name, height, width, max(height, width))
            positions += held_out_positions(other, blocks, spacing)
        names += [block.name for block in blocks]
    return positions, names


def fit_pca(metadata: dict[str, Any], sources, split, max_samples: int):
    """PCA with the latent's size, fitted on the encoder's first-epoch training patches."""
    from sklearn.decomposition import PCA

    from cae.plugins.contract import SamplingDefaults
    from cae.samples.datasets import RedrawnPatchDataset

    seed = metadata["training"]["seed"]
    train = RedrawnPatchDataset(sources, split["train"], SamplingDefaults(**metadata["sampling"]), seed)
    chosen = np.random.default_rng(seed).permutation(len(train))[:max_samples]
    if len(chosen) <= metadata["latent_dim"]:
        raise InputError(f"too few training patches ({len(chosen)}) to fit a PCA of {metadata['latent_dim']} components")
    modality = metadata["modality"]
    patches = np.stack([train[int(index)][modality]["target"].numpy().ravel() for index in chosen])
    pca = PCA(n_components=metadata["latent_dim"], svd_solver="randomized", random_state=seed).fit(patches)
    return pca, len(chosen)


class Scores:
    """Running sums of the three scores of one method."""

    def __init__(self) -> None:
        self.center, self.angle, self.similarity, self.frames, self.samples = 0.0, 0.0, 0.0, 0, 0

    def add(self, reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        from cae.model.losses import spectral_angle, ssim_loss
        from cae.geometry import CENTER_DATE, CENTER_PIXEL

        at = (slice(None), slice(CENTER_DATE, CENTER_DATE + 1), slice(None),
              slice(CENTER_PIXEL, CENTER_PIXEL + 1), slice(CENTER_PIXEL, CENTER_PIXEL + 1))
        self.center += (reconstruction[at] - target[at]).abs().mean(2).sum().item()
        self.angle += spectral_angle(reconstruction[at], target[at]).sum().item()
        frames = int(mask.flatten(2).any(2).sum())
        self.similarity += (1 - ssim_loss(reconstruction, target, mask).item()) * frames
        self.frames += frames
        self.samples += target.shape[0]

    def result(self, bands: int) -> dict[str, float | None]:
        return {
            "center_mae": self.center / self.samples,
            "sam": self.angle / self.samples if bands > 1 else None,
            "ssim": self.similarity / self.frames if self.frames else None,
        }


def evaluate_encoder(
    run_dir: Path,
    cubes: list[Path] | None = None,
    device: str = "cpu",
    max_pca_samples: int = 4000,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Scores of one encoder, PCA and the patch mean on the same held-out patches."""
    from torch.utils.data import DataLoader

    from cae.checkpoint import load_encoder
    from cae.model.losses import patch_band_means
    from cae.samples.datasets import PatchDataset
    from cae.model.presets import AutoencoderPreset

    checkpoint = load_encoder(run_dir, device=device)
    metadata = checkpoint.metadata
    modality = metadata["modality"]
    halo = AutoencoderPreset.from_dict(metadata["preset"]).halo
    sources, split = training_split(metadata, halo)
    positions, blocks = _evaluation_positions(metadata, halo, sources, split, cubes)
    if not positions:
        raise InputError(f"no held-out patch with a valid centre to evaluate the {modality} encoder on")
    pca, fitted_on = fit_pca(metadata, sources, split, max_pca_samples)
    components = torch.as_tensor(pca.components_, dtype=torch.float32, device=device)  # (d, N)
    mean = torch.as_tensor(pca.mean_, dtype=torch.float32, device=device)  # (N,)
    scores = {method: Scores() for method in METHODS}
    loader = DataLoader(PatchDataset(positions), batch_size=batch_size)
    done = 0
    with torch.no_grad():
        for batch in loader:
            batch = batch[modality]
            target, mask = batch["target"].to(device), batch["mask"].to(device)  # (B, 11, C, 15, 15), (B, 11, 15, 15)
            reconstruction, _ = checkpoint.model(batch["values"].to(device), batch["day_offsets"].to(device))
            flat = target.flatten(1)  # (B, N)
            linear = ((flat - mean) @ components.T @ components + mean).reshape(target.shape)
            flat_mean = patch_band_means(target, mask)[:, None, :, None, None].expand_as(target)
            for method, values in (("autoencoder", reconstruction.float()), ("pca", linear), ("patch_mean", flat_mean)):
                scores[method].add(values, target, mask)
            done += target.shape[0]
            if progress:
                progress(done, len(positions))
    bands = len(metadata["bands"])
    return {
        "run_dir": str(run_dir),
        "bands": metadata["bands"],
        "preset": metadata["preset"]["name"],
        "latent_dim": metadata["latent_dim"],
        "weights_sha256": metadata["weights_sha256"],
        "evaluated_on": {"cubes": [str(path) for path in cubes] if cubes else metadata["data"]["cubes"], "blocks": blocks},
        "samples": len(positions),
        "pca": {
            "components": int(pca.n_components_),
            "fitted_on_patches": fitted_on,
            "training_blocks": [block.name for block in split["train"]],
            "explained_variance_ratio": float(pca.explained_variance_ratio_.sum()),
        },
        "scores": {method: scores[method].result(bands) for method in METHODS},
    }


def reconstruction_report(
    model: Path,
    cubes: list[Path] | None = None,
    device: str = "cpu",
    max_pca_samples: int = 4000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The reconstruction report of every encoder in `model` (a run folder or a folder of runs)."""
    from cae import __version__
    from cae.checkpoint import git_revision
    from cae.training.device import resolve_device

    device = resolve_device(device)
    modalities = {}
    for modality, run_dir in encoders_in(Path(model)).items():
        def report(done: int, total: int, name: str = modality) -> None:
            if progress:
                progress(name, done, total)

        modalities[modality] = evaluate_encoder(run_dir, cubes, device, max_pca_samples, progress=report)
    return {
        "kind": KIND,
        "model": str(model),
        "units": UNITS,
        "modalities": modalities,
        "cae_version": __version__,
        "git_revision": git_revision(),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Reconstruction of held-out patches", "", f"Model: `{report['model']}`.", ""]
    lines += [f"- **{name}**: {text}" for name, text in report["units"].items()]
    for modality, result in report["modalities"].items():
        pca = result["pca"]
        lines += [
            "", f"## {modality}", "",
            f"{result['samples']} held-out patches of {len(result['evaluated_on']['blocks'])} block(s); latent size "
            f"{result['latent_dim']}; PCA of {pca['components']} components fitted on {pca['fitted_on_patches']} "
            f"training patches (explains {pca['explained_variance_ratio']:.1%} of their variance).", "",
            markdown_table(
                ["method", "centre MAE", "SAM (rad)", "SSIM"],
                [[method, *(number(result["scores"][method][key], 4) for key in ("center_mae", "sam", "ssim"))]
                 for method in METHODS],
            ),
        ]
    return "\n".join(lines) + "\n"


def report_paths(out: Path) -> tuple[Path, Path]:
    return out / REPORT_JSON, out / REPORT_MARKDOWN


def report_inputs(model: Path, cubes: Sequence[Path] | None) -> list[Path]:
    """What the report reads: the encoders' folders and the cubes (given, or their training cubes)."""
    from cae.checkpoint import read_metadata

    try:
        encoders = list(encoders_in(model).values())
    except InputError:
        return [model, *(cubes or [])]
    recorded = [Path(path) for run in encoders for path in read_metadata(run)["data"]["cubes"]]
    return [model, *encoders, *(cubes or recorded)]


def check_report_absent(out: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse to write into an input, to replace a report in `out` unless asked, or to start
    work that cannot be written."""
    from cae.outputs import check_writable
    from cae.outputs import check_apart

    check_apart({"--out": out}, inputs)
    existing = [path.name for path in report_paths(out) if path.exists()]
    if existing and not overwrite:
        raise InputError(f"{out} already holds {' and '.join(existing)}; choose another --out or pass --overwrite")
    check_writable(out)


def write_reconstruction_report(
    report: dict[str, Any], out: Path, overwrite: bool = False, inputs: Sequence[Path] = ()
) -> tuple[Path, Path]:
    """reconstruction.json and reconstruction.md in `out`, each written atomically."""
    from cae.atomic import write_bytes

    check_report_absent(out, overwrite, inputs)
    paths = report_paths(out)
    write_bytes(paths[0], (json.dumps(report, indent=2) + "\n").encode())
    write_bytes(paths[1], markdown(report).encode())
    return paths
