"""Stage 1: training one modality's context autoencoder on its cubes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch

from cae.checkpoint import FORMAT_VERSION, KIND, METADATA_FILE, WEIGHTS_FILE
from cae.errors import InputError
from cae.model.autoencoder import autoencoder_for
from cae.model.losses import center_mae, reconstruction_loss, warmed_up_weights
from cae.model.presets import get_preset
from cae.outputs import check_apart
from cae.plugins.contract import LossWeights, ModalitySpec
from cae.plugins.manager import installed_modalities
from cae.training.baselines import beats_patch_mean, center_baselines
from cae.training.config import TrainConfig, TrainResult, check_learning_rate_decay, fitted_to_run
from cae.training.data import block_band_statistics, block_datasets, load_sources, provenance
from cae.training.engine import VALIDATION_METRIC, CheckpointWriter, PatchData, ReconstructionTask, fit, make_trainer
from cae.training.progress import StepProgress
from cae.training.run_folder import STATE_FILE, claimed_run_dir


class AutoencoderTask(ReconstructionTask):
    """Reconstruction training of one context autoencoder; validation on the centre MAE.

    `config.loss_weights` is the run's resolved loss (`train_encoder` fills in the modality's).
    """

    def __init__(self, model: torch.nn.Module, spec: ModalitySpec, config: TrainConfig) -> None:
        super().__init__(config)
        self.model, self.spec = model, spec

    def trained_parameters(self):
        return self.model.parameters()

    def _losses(self, batch: dict[str, torch.Tensor], weights: LossWeights) -> tuple[torch.Tensor, torch.Tensor]:
        reconstruction, _ = self.model(batch["values"], batch["day_offsets"])
        total, _ = reconstruction_loss(reconstruction, batch["target"], batch["mask"], weights)
        return total, reconstruction

    def training_loss(self, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        config = self.config
        weights = warmed_up_weights(config.loss_weights, self.global_step, config.mae_only_steps, config.loss_ramp_steps)
        return self._losses(batch[self.spec.name], weights)[0]

    def validation_step(self, batch: dict[str, dict[str, torch.Tensor]], batch_index: int) -> None:
        batch = batch[self.spec.name]
        total, reconstruction = self._losses(batch, self.config.loss_weights)
        size = batch["values"].shape[0]
        self.log("val_loss", total, batch_size=size, sync_dist=True)
        error = center_mae(reconstruction.float(), batch["target"], batch["mask"])
        self.log(VALIDATION_METRIC, error, prog_bar=True, batch_size=size, sync_dist=True)

    def on_train_batch_start(self, batch, batch_index: int) -> None:
        """After the warm-up, batch normalisations use their running statistics.

        Decision: the latent's batch normalisation (`ContextAutoencoder.to_latent`) keeps
        Softplus latents alive while the encoder finds its feet, but in training mode it
        normalises each latent by the statistics of a batch of 16, which moves every latent
        by a quarter of its spread from batch to batch: noise the centre path cannot see
        through. Frozen after the warm-up (its scale and shift still learn), it is the fixed
        affine map evaluation uses. Lightning puts the model back in training mode at every
        epoch, hence each batch.
        """
        if self.global_step >= self.config.warmup_steps:
            for module in self.model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()


def train_encoder(
    modality: str,
    cubes: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    resume: bool = False,
    progress: bool = True,
    mask_variable: str | None = None,
) -> TrainResult:
    """Train `modality`'s autoencoder on `cubes` and write a self-describing checkpoint to `out`.

    `mask_variable` names a cube variable marking invalid pixels; the preprocessing parameters
    in encoder.json record it, and embedding needs the same.
    """
    run_dir = Path(out)
    check_learning_rate_decay(config)
    check_apart({"--out": run_dir}, cubes)
    with claimed_run_dir(run_dir, METADATA_FILE, "a trained encoder", resume):
        if config.loss_weights is not None and not config.loss_weights.valid:
            raise InputError(f"loss weights must be >= 0 with a positive sum and a positive centre weight: {config.loss_weights}")
        preset = get_preset(config.preset or installed_modalities().spec(modality).default_preset)
        steps = StepProgress(progress)
        with steps.step(f"preparing data: opening {len(cubes)} cube(s), cutting the block split"):
            spec, sources = load_sources(modality, cubes, preset.halo, mask_variable=mask_variable)
            config = replace(config, preset=preset.name, loss_weights=config.loss_weights or spec.loss_weights)
            sampling = config.sampling or spec.sampling
            split, train, val, test = block_datasets(sources, sampling, config)
        config = fitted_to_run(config, len(train) // config.batch_size)
        # Two training samples at least: the latent's batch normalisation learns from batch statistics.
        if len(train) < 2 or len(val) == 0:
            raise InputError(
                f"too few usable training or validation samples ({len(train)} / {len(val)}; at least 2 / 1): "
                "the cubes have too few valid centre pixels for the sampling settings"
            )
        first = next(iter(sources.values()))
        bands, parameters = first.prepared[modality].bands, first.prepared[modality].parameters
        fill = first.cutters[modality].fill
        L.seed_everything(config.seed, workers=True, verbose=False)
        model = autoencoder_for(spec, len(bands), preset)
        model.initialise_from_data(*block_band_statistics(sources, split["train"], modality))
        registered = installed_modalities().get(modality)
        describe = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "modality": modality,
            "plugin": {"name": registered.plugin, "package": registered.package, "version": registered.version},
            "bands": list(bands),
            "preprocessing": parameters,
            # What replaces missing values in this encoder's input (`cae.samples.windows.fill_invalid`).
            "fill_values": [float(value) for value in fill],
            "preset": preset.to_dict(),
            "latent_dim": spec.latent_dim,
            "temporal_reduction": spec.temporal_reduction,
            "loss_weights": config.loss_weights.to_dict(),
            "sampling": sampling.to_dict(),
            "training": config.to_dict(),
            "parameters": sum(p.numel() for p in model.parameters()),
            **provenance(cubes, sources, split, (train, val, test)),
        }
        writer = CheckpointWriter(
            run_dir, describe, lambda task: task.model, WEIGHTS_FILE, METADATA_FILE, f"{modality} autoencoder",
        )
        trainer = make_trainer(run_dir, config, writer, progress)
        task = AutoencoderTask(model, spec, config)
        fit(trainer, task, PatchData(train, val, config), writer, run_dir / STATE_FILE if resume else None)
        if not trainer.is_global_zero:
            return TrainResult(run_dir)
        from cae.checkpoint import load_encoder

        best = load_encoder(run_dir, device="cpu")
        with steps.step("scoring held-out samples", len(test)) as report:
            scores = center_baselines(best.model, modality, test, torch.device("cpu"), report=report)
        scores["beats_patch_mean"] = beats_patch_mean(scores)
        metadata = writer.write_metadata({"test": scores})
        return TrainResult(run_dir, metadata)
