"""Training fusion over frozen encoders (stage 2, DESIGN 5).

Only the fusion layers train: the encoders and decoders of every modality are loaded from
their checkpoints, frozen (no gradient, eval mode, not in the optimiser) and stay
bit-identical. Adding a sensor therefore means training its encoder and this, nothing else.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from cae.checkpoint import check_encoder_input, find_encoders, load_encoder, read_metadata
from cae.cube.stack import load_stack
from cae.errors import InputError
from cae.fusion.checkpoint import (
    FUSION_KIND,
    FUSION_METADATA,
    FUSION_WEIGHTS,
    encoder_record,
    load_fusion,
)
from cae.fusion.model import FUSION_PRESETS, FusionModel, FusionPreset
from cae.model.losses import center_mae, reconstruction_loss
from cae.geometry import CENTER_DATE, CENTER_PIXEL
from cae.plugins.contract import ModalitySpec
from cae.samples.datasets import PatchDataset, SourceCube
from cae.outputs import check_apart
from cae.plugins.manager import installed_modalities
from cae.training.config import TrainConfig, TrainResult, check_learning_rate_decay, fitted_to_run
from cae.training.data import block_datasets, provenance, split_like_encoder
from cae.training.engine import (
    VALIDATION_METRIC,
    CheckpointWriter,
    PatchData,
    ReconstructionTask,
    batch_size,
    fit,
    make_trainer,
)
from cae.training.progress import Report, StepProgress
from cae.training.run_folder import STATE_FILE, claimed_run_dir


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and eval mode (dropout off): the module is used, never changed."""
    module.requires_grad_(False)
    return module.eval()


class FusionTask(ReconstructionTask):
    """Fuse frozen encoders' latents; reconstruct every modality through its frozen decoder."""

    def __init__(
        self, fusion: FusionModel, encoders: dict[str, nn.Module], specs: dict[str, ModalitySpec], time_axis: str, config: TrainConfig
    ) -> None:
        super().__init__(config)
        self.fusion = fusion
        self.encoders = nn.ModuleDict({name: freeze(model) for name, model in encoders.items()})
        self.specs, self.time_axis = specs, time_axis

    def trained_parameters(self):
        return self.fusion.parameters()

    def train(self, mode: bool = True) -> FusionTask:
        """Lightning switches the whole module to training mode; the encoders stay in eval."""
        super().train(mode)
        self.encoders.eval()
        return self

    def reconstruct(self, batch: dict[str, dict[str, torch.Tensor]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(embedding (B, 7), each modality's reconstruction through fusion and its decoder)."""
        with torch.no_grad():
            latents = {name: self.encoders[name].encode(part["values"], part["day_offsets"]) for name, part in batch.items()}
        embedding, predicted = self.fusion(
            latents, {name: part["gap_days"] for name, part in batch.items()}, {name: part["present"] for name, part in batch.items()}
        )
        return embedding, {name: self.encoders[name].decode(predicted[name], batch[name]["day_offsets"]) for name in batch}

    def _loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, reconstructions = self.reconstruct(batch)
        losses = []
        for name, reconstruction in reconstructions.items():
            part = batch[name]
            mask = part["mask"] & part["present"][:, None, None, None]  # a missing modality adds nothing
            loss, _ = reconstruction_loss(reconstruction.float(), part["target"], mask, self.specs[name].fusion_loss_weights)
            losses.append(loss)
        return torch.stack(losses).mean(), reconstructions

    def training_loss(self, batch) -> torch.Tensor:
        return self._loss(batch)[0]

    def validation_step(self, batch, batch_index: int) -> None:
        total, reconstructions = self._loss(batch)
        size = batch_size(batch)
        self.log("val_loss", total, batch_size=size, sync_dist=True)
        for name, reconstruction in reconstructions.items():
            part = batch[name]
            error = center_mae(reconstruction.float(), part["target"], part["mask"] & part["present"][:, None, None, None])
            self.log(f"val_center_mae_{name}", error, batch_size=size, sync_dist=True)
            if name == self.time_axis:
                self.log(VALIDATION_METRIC, error, prog_bar=True, batch_size=size, sync_dist=True)


def resolve_encoders(runs: Path | None, explicit: dict[str, Path] | None) -> dict[str, Path]:
    """Encoders to fuse: those trained under `runs` for installed modalities, plus explicit ones."""
    registry = installed_modalities()
    found = {name: path for name, path in (find_encoders(runs) if runs else {}).items() if name in registry.modalities}
    for name, path in (explicit or {}).items():
        trained_for = read_metadata(path)["modality"]
        if trained_for != name:
            raise InputError(f"--encoder {name}={path}: that folder holds an encoder of {trained_for}, not of {name}")
        found[name] = path
    if not found:
        raise InputError(f"no trained encoder found{' in ' + str(runs) if runs else ''}; train one with `cae train --modality`")
    return found


def fusion_scores(task: FusionTask, dataset: PatchDataset, report: Report | None = None) -> dict[str, dict[str, float]]:
    """Held-out centre MAE per modality: through fusion, and through the modality's own
    autoencoder. `report(done, total)` is called after each batch.

    Only the centre pixel of the centre date is scored, so only it is reconstructed (each
    encoder once, its centre head on the fused and on its own latent): the same scores as
    `per_window_fusion_scores`, which runs every decoder whole and each encoder twice.
    """
    return _scores(task, dataset, report, _centre_reconstructions)


def per_window_fusion_scores(task: FusionTask, dataset: PatchDataset, report: Report | None = None) -> dict[str, dict[str, float]]:
    """The reference of `fusion_scores`: whole reconstructions, as training computes them."""

    def whole(task: FusionTask, batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        _, reconstructions = task.reconstruct(batch)
        at = (slice(None), CENTER_DATE, slice(None), CENTER_PIXEL, CENTER_PIXEL)
        return {name: (reconstruction[at], task.encoders[name](batch[name]["values"], batch[name]["day_offsets"])[0][at])
                for name, reconstruction in reconstructions.items()}

    return _scores(task, dataset, report, whole)


def _centre_reconstructions(task: FusionTask, batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(through fusion, alone) reconstruction (B, C) of each modality's centre pixel at the centre date."""
    latents = {name: task.encoders[name].encode(part["values"], part["day_offsets"]) for name, part in batch.items()}
    _, predicted = task.fusion(
        latents, {name: part["gap_days"] for name, part in batch.items()}, {name: part["present"] for name, part in batch.items()}
    )
    at = (slice(None), CENTER_DATE, slice(None), CENTER_PIXEL, CENTER_PIXEL)
    centres = {}
    for name, part in batch.items():
        encoder = task.encoders[name]
        if encoder.centre_head is not None:
            centres[name] = (encoder.centre_prediction(predicted[name]), encoder.centre_prediction(latents[name]))
        else:
            centres[name] = (encoder.decode(predicted[name], part["day_offsets"])[at], encoder.decode(latents[name], part["day_offsets"])[at])
    return centres


def _scores(task: FusionTask, dataset: PatchDataset, report: Report | None, centres_of) -> dict[str, dict[str, float]]:
    sums: dict[str, list[float]] = {}
    task.eval()
    done = 0
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=64):
            done += batch_size(batch)
            for name, (fused, alone) in centres_of(task, batch).items():
                part = batch[name]
                valid = part["mask"][:, CENTER_DATE, CENTER_PIXEL, CENTER_PIXEL] & part["present"]  # (B,)
                count = int(valid.sum())
                if count == 0:
                    continue
                target = part["target"][:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL]  # (B, C)
                totals = sums.setdefault(name, [0.0, 0.0, 0])
                totals[0] += float((fused - target).abs().mean(dim=1)[valid].mean()) * count
                totals[1] += float((alone - target).abs().mean(dim=1)[valid].mean()) * count
                totals[2] += count
            if report is not None:
                report(done, len(dataset))
    return {
        name: {"fusion_center_mae": f / n, "autoencoder_center_mae": a / n, "samples": n}
        for name, (f, a, n) in sums.items()
    }


def train_fusion(
    cubes: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    runs: Path | None = Path("runs"),
    encoders: dict[str, Path] | None = None,
    modalities: Sequence[str] | None = None,
    preset: FusionPreset | None = None,
    resume: bool = False,
    progress: bool = True,
    mask_variable: str | None = None,
) -> TrainResult:
    """Train fusion over the trained encoders of the modalities in `cubes` (one place).

    `modalities` names the modalities to fuse when they are not just the cubes' own: a
    derived modality (`ModalitySpec.derived_from`) is read from its source's cube. `preset`
    defaults to the paper's. A resumed run fuses the modalities it was started with, with the
    preset it was started with (another one is refused).
    """
    run_dir = Path(out)
    check_learning_rate_decay(config)
    # Every encoder folder fusion may read (validated later, where each fault has its message).
    check_apart({"--out": run_dir}, [*cubes, *(find_encoders(runs).values() if runs else ()), *(encoders or {}).values()])
    with claimed_run_dir(run_dir, FUSION_METADATA, "a fusion model", resume):
        if resume:
            # Before any work: refuses a run whose recorded encoders changed or whose plugin is gone.
            started = load_fusion(run_dir)
            modalities = modalities or started.metadata["modalities"]
            if preset is not None and preset != started.model.preset:
                raise InputError(f"{run_dir} was started with the fusion preset {started.model.preset.to_dict()}; "
                                 "resume it without --fusion-preset and --dims, or with the ones it was started with")
            preset = started.model.preset
        preset = preset or FUSION_PRESETS["paper"]
        registry = installed_modalities()
        wanted = list(modalities or ())
        steps = StepProgress(progress)
        with steps.step(f"preparing data: opening {len(cubes)} cube(s)"):
            stack = load_stack(cubes, registry, derived=[name for name in wanted if registry.spec(name).derived_from],
                               mask_variable=mask_variable)
        if wanted and set(wanted) != set(stack.modalities):
            absent = [name for name in wanted if name not in stack.modalities]
            extra = [name for name in stack.modalities if name not in wanted]
            raise InputError(
                f"fusion of {', '.join(wanted)}: "
                + (f"no cube holds {', '.join(absent)}; " if absent else "")
                + (f"a cube of {', '.join(extra)} is given but not asked for; " if extra else "")
                + "give one cube per modality (a derived modality reads its source's cube)"
            )
        available = resolve_encoders(runs, encoders)
        missing = [name for name in stack.modalities if name not in available]
        if missing:
            raise InputError(f"no trained encoder for {', '.join(missing)}; train it with `cae train --modality {missing[0]}`")
        unused = [name for name in available if name not in stack.modalities]
        if encoders and any(name in unused for name in encoders):
            raise InputError(f"no cube for {', '.join(n for n in unused if n in encoders)}; give one with --cube")
        checkpoints = {name: load_encoder(available[name]) for name in stack.modalities}
        for name, checkpoint in checkpoints.items():
            check_encoder_input(checkpoint.metadata, stack.modalities[name])
        specs = {name: registry.spec(name) for name in stack.modalities}
        sampling = config.sampling or specs[stack.time_axis].sampling
        place = Path(cubes[0]).name
        halos = {name: checkpoint.model.frame_encoder.halo for name, checkpoint in checkpoints.items()}
        fills = {name: checkpoint.metadata["fill_values"] for name, checkpoint in checkpoints.items()}
        sources = {place: SourceCube.of(place, stack.time_axis, dict(stack.modalities), halos, fills)}
        with steps.step("preparing data: cutting the block split and the held-out positions"):
            split, adopted = split_like_encoder(checkpoints[stack.time_axis].metadata, sources, config)
            split, train, val, test = block_datasets(sources, sampling, config, split)
        config = fitted_to_run(config, len(train) // config.batch_size)
        L.seed_everything(config.seed, workers=True, verbose=False)
        fusion = FusionModel({name: specs[name].latent_dim for name in stack.modalities}, preset)
        describe: dict[str, Any] = {
            "kind": FUSION_KIND,
            "format_version": 1,
            "modalities": list(stack.modalities),
            "time_axis": stack.time_axis,
            "encoders": {name: encoder_record(checkpoint, run_dir) for name, checkpoint in checkpoints.items()},
            "fusion_preset": preset.to_dict(),
            "fusion_loss_weights": {name: spec.fusion_loss_weights.to_dict() for name, spec in specs.items()},
            "sampling": sampling.to_dict(),
            "training": replace(config, preset=None).to_dict(),
            "parameters": sum(p.numel() for p in fusion.parameters()),
            **provenance(cubes, sources, split, (train, val, test)),
        }
        describe["data"]["split_from"] = {"encoder": stack.time_axis} if adopted else "own"
        writer = CheckpointWriter(
            run_dir, describe, lambda task: task.fusion, FUSION_WEIGHTS, FUSION_METADATA,
            f"fusion of {' + '.join(stack.modalities)}",
        )
        trainer = make_trainer(run_dir, config, writer, progress)
        # The frozen encoders are in eval mode on purpose; Lightning's warning about it is noise.
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        task = FusionTask(fusion, {name: c.model for name, c in checkpoints.items()}, specs, stack.time_axis, config)
        fit(trainer, task, PatchData(train, val, config), writer, run_dir / STATE_FILE if resume else None)
        if not trainer.is_global_zero:
            return TrainResult(run_dir)
        best = load_fusion(run_dir)
        best_task = FusionTask(best.model, {name: c.model for name, c in best.encoders.items()}, specs, stack.time_axis, config)
        with steps.step("scoring held-out samples", len(test)) as report:
            scores = fusion_scores(best_task, test, report)
        return TrainResult(run_dir, writer.write_metadata({"test": scores}))
