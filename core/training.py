"""Training one modality's context autoencoder (stage 1) with Lightning.

Lightning provides the engine: mixed precision on GPU, DDP over several GPUs, gradient
clipping, early stopping, deterministic seeding and resumable training state. What is ours
is the method: samples, losses, and the self-describing checkpoint (`cae.checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, Sampler

from cae import __version__
from cae.autoencoder import ContextAutoencoder
from cae.checkpoint import (
    CURVE_FILE,
    FORMAT_VERSION,
    KIND,
    METADATA_FILE,
    WEIGHTS_FILE,
    atomic_write_bytes,
    atomic_write_json,
    check_writable,
    git_revision,
    save_weights,
)
from cae.cube.io import open_cube
from cae.cube.prepare import prepare_modality
from cae.cube.stack import modality_of
from cae.errors import InputError
from cae.locks import sole_writer
from cae.losses import center_mae, reconstruction_loss, warmed_up_weights
from cae.modality import CENTER_DATE, CENTER_PIXEL, LossWeights, ModalitySpec, PreparedModality, SamplingDefaults
from cae.outputs import check_apart
from cae.patches import PatchDataset, RedrawnPatchDataset, SourceCube, held_out_positions
from cae.plugins import installed_modalities
from cae.presets import get_preset
from cae.sampling import Site, band_fill_values, spatial_sites, split_sites

#: Lightning's own training state (model, optimiser, schedulers, loops): for --resume only.
STATE_FILE = "training_state.ckpt"
VALIDATION_METRIC = "val_center_mae"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes a training run; saved in the checkpoint's JSON (DESIGN 4)."""

    preset: str | None = None  # None: the modality's default preset
    epochs: int = 200
    max_steps: int = -1
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 1.5e-4
    #: Linear warm-up from 0.001 x lr over this many optimiser steps (length is our decision).
    warmup_steps: int = 200
    #: None: the modality's loss weights (DESIGN 4).
    loss_weights: LossWeights | None = None
    #: Steps on the MAE alone, then steps blending into the loss weights
    #: (`cae.losses.warmed_up_weights`; our decision).
    mae_only_steps: int = 300
    loss_ramp_steps: int = 600
    #: After the warm-up: "plateau" (DESIGN 4: cut by `plateau_factor` when the validation
    #: score stalls for `plateau_patience` epochs) or "cosine" (decay to 0 at `max_steps`;
    #: our decision for short runs, which end before a plateau is ever detected).
    learning_rate_decay: str = "plateau"
    plateau_factor: float = 0.35
    plateau_patience: int = 5
    early_stopping_patience: int = 16
    gradient_clip: float = 1.0
    seed: int = 42
    device: str = "auto"
    #: Sites are square blocks of about this many pixels; whole sites go to one split.
    site_block: int = 32
    #: None: the modality's sampling defaults. Small cubes need denser sampling.
    sampling: SamplingDefaults | None = None
    #: Held-out sites are scored on every valid pixel-date with full context, on a grid of
    #: this many pixels (validation: each epoch, so sparser; test: once, at the end).
    validation_spacing: int = 8
    test_spacing: int = 4
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    run_dir: Path
    metadata: dict[str, Any] = field(default_factory=dict)


class AutoencoderTask(L.LightningModule):
    """Reconstruction training of one context autoencoder; validation on the centre MAE.

    `config.loss_weights` is the run's resolved loss (`train_encoder` fills in the modality's).
    """

    def __init__(self, model: torch.nn.Module, spec: ModalitySpec, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.spec, self.config = model, spec, config
        self._step_started = None

    def _losses(self, batch: dict[str, torch.Tensor], weights: LossWeights) -> tuple[torch.Tensor, dict, torch.Tensor]:
        reconstruction, _ = self.model(batch["values"], batch["day_offsets"])
        total, parts = reconstruction_loss(reconstruction, batch["target"], batch["mask"], weights)
        return total, parts, reconstruction

    def training_step(self, batch: dict[str, dict[str, torch.Tensor]], batch_index: int) -> torch.Tensor | None:
        batch = batch[self.spec.name]
        if batch["values"].shape[0] < MIN_BATCH:
            return None  # skipped (no optimiser step): an epoch's draw may leave one sample over
        config = self.config
        weights = warmed_up_weights(config.loss_weights, self.global_step, config.mae_only_steps, config.loss_ramp_steps)
        total, _, _ = self._losses(batch, weights)
        batch_size = batch["values"].shape[0]
        now = time.perf_counter()
        if self._step_started is not None:
            self.log("samples_per_s", batch_size / (now - self._step_started), prog_bar=True, batch_size=batch_size)
        self._step_started = now
        self.log("train_loss", total, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size)
        return total

    def validation_step(self, batch: dict[str, dict[str, torch.Tensor]], batch_index: int) -> None:
        batch = batch[self.spec.name]
        total, _, reconstruction = self._losses(batch, self.config.loss_weights)
        batch_size = batch["values"].shape[0]
        self.log("val_loss", total, batch_size=batch_size, sync_dist=True)
        error = center_mae(reconstruction.float(), batch["target"], batch["mask"])
        self.log(VALIDATION_METRIC, error, prog_bar=True, batch_size=batch_size, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self._step_started = None

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

    def configure_optimizers(self):
        return optimizers_for(self.model.parameters(), self.config)


#: Learning-rate decays after the warm-up (`TrainConfig.learning_rate_decay`).
LEARNING_RATE_DECAYS = ("plateau", "cosine")


def optimizers_for(parameters, config: TrainConfig):
    """AdamW with a linear warm-up from 0.001 x lr, then reduce-on-plateau (DESIGN 4) or a
    cosine decay to 0 at `config.max_steps`."""
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.learning_rate_decay == "cosine":
        warmup, total = max(config.warmup_steps, 1), max(config.max_steps, 1)

        def factor(step: int) -> float:
            warm = 1e-3 + (1 - 1e-3) * min(step / warmup, 1.0)
            return warm * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))

        return [optimizer], [{"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}]
    # LinearLR, unlike LambdaLR, leaves the rate alone after its last step, so the
    # reductions of the plateau scheduler are not undone at the next optimiser step.
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-3, total_iters=max(config.warmup_steps, 1))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
    )
    return [optimizer], [
        {"scheduler": warmup, "interval": "step"},
        {"scheduler": plateau, "interval": "epoch", "monitor": VALIDATION_METRIC, "reduce_on_plateau": True},
    ]


class SeededPermutation(Sampler[int]):
    """A random order fixed by `seed`: the same each time an iteration starts.

    Lightning starts iterating the training loader twice in some epochs of an uninterrupted
    run and once in the same epoch of a resumed one; with a shuffling sampler, whose
    generator advances at every start, the two runs would then train on different batches.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed)).tolist())


class PatchData(L.LightningDataModule):
    """Train (dates redrawn each epoch) and validation samples of whole sites."""

    def __init__(self, train: RedrawnPatchDataset, val: PatchDataset, config: TrainConfig):
        super().__init__()
        self.train, self.val, self.config = train, val, config

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        self.train.set_epoch(epoch)
        seed = self.config.seed * 100_003 + epoch
        return DataLoader(
            self.train,
            batch_size=self.config.batch_size,
            sampler=SeededPermutation(len(self.train), seed),
            # Its own generator: starting an iteration draws a seed from the loader's generator,
            # which must not be the global one that dropout draws from.
            generator=torch.Generator().manual_seed(seed),
            num_workers=self.config.num_workers,
            drop_last=len(self.train) > self.config.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=max(self.config.batch_size, 64), num_workers=self.config.num_workers)


class CheckpointWriter(L.Callback):
    """After each validation: keep the best weights, and rewrite the JSON and loss curve.

    `trained(task)` is the module whose weights are kept, in `weights_file`. The history of
    metrics and the best weights live in this callback's state, which Lightning saves in
    the training state, so a resumed run continues the same history.
    """

    def __init__(
        self, run_dir: Path, describe: dict[str, Any], trained, weights_file: str, metadata_file: str, title: str
    ) -> None:
        self.run_dir, self.describe, self.trained, self.weights_file = run_dir, describe, trained, weights_file
        self.metadata_file, self.title = metadata_file, title
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] = {}
        self.restored_weights: bytes | None = None

    def state_dict(self) -> dict[str, Any]:
        # The global torch generator drives dropout; restoring it makes a resumed run
        # continue exactly as an uninterrupted one would.
        state = {"history": self.history, "best": self.best, "torch_rng": torch.get_rng_state()}
        if self.best:  # the first process's (the others keep no best): the weights `best` describes
            state["best_weights"] = (self.run_dir / self.weights_file).read_bytes()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history, self.best = list(state["history"]), dict(state["best"])
        self.restored_weights = state.get("best_weights")
        torch.set_rng_state(state["torch_rng"])

    def on_train_start(self, trainer: L.Trainer, task: L.LightningModule) -> None:
        """A resumed run first puts the run folder back as its state saw it, and takes the
        reduce-on-plateau step that the state lacks.

        A run killed after a later validation may have left newer weights; a resumed run
        that does not reproduce that epoch bit for bit (on a GPU) would otherwise end with a
        JSON whose hash names other weights. Lightning steps the plateau scheduler after
        `on_train_epoch_end`, where the state is saved, and skips that step when it resumes;
        without it, a resumed run would cut the learning rate one epoch later than an
        uninterrupted one. The step is taken on the metric it would have seen: the last epoch's.
        """
        if self.restored_weights is not None and trainer.is_global_zero:
            atomic_write_bytes(self.run_dir / self.weights_file, self.restored_weights)
            self.write_metadata()
        for config in trainer.lr_scheduler_configs:
            if config.reduce_on_plateau and self.history and config.scheduler.last_epoch < trainer.current_epoch:
                config.scheduler.step(self.history[-1][config.monitor])

    def on_validation_end(self, trainer: L.Trainer, task: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        if VALIDATION_METRIC not in metrics:
            return
        record = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "train_loss": None,  # the epoch's mean exists only at its end: filled in then
            "val_loss": _as_float(metrics.get("val_loss")),
            VALIDATION_METRIC: _as_float(metrics[VALIDATION_METRIC]),
            "learning_rate": trainer.optimizers[0].param_groups[0]["lr"],
        }
        self.history.append(record)
        if not self.best or record[VALIDATION_METRIC] < self.best[VALIDATION_METRIC]:
            digest = save_weights(self.trained(task), self.run_dir / self.weights_file)
            self.best = {**record, "weights_sha256": digest}
        self.write_metadata()

    def on_train_epoch_end(self, trainer: L.Trainer, task: L.LightningModule) -> None:
        """Save the resumable state once the epoch is complete (early stopping included).

        The epoch's mean training loss exists only now, after its validation was recorded.
        """
        if self.history and self.history[-1]["epoch"] == trainer.current_epoch and trainer.is_global_zero:
            self.history[-1]["train_loss"] = _as_float(trainer.callback_metrics.get("train_loss_epoch"))
            self.write_metadata()
        staging = self.run_dir / f".{STATE_FILE}.partial"
        trainer.save_checkpoint(staging, weights_only=False)
        if trainer.is_global_zero:
            os.replace(staging, self.run_dir / STATE_FILE)

    def write_metadata(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        metadata = {
            **self.describe,
            "weights_sha256": self.best.get("weights_sha256"),
            "best": {key: value for key, value in self.best.items() if key != "weights_sha256"},
            "metrics": self.history,
            **(extra or {}),
        }
        atomic_write_json(self.run_dir / self.metadata_file, metadata)
        plot_loss_curve(self.history, self.run_dir / CURVE_FILE, self.title)
        return metadata


def _as_float(value) -> float | None:
    return None if value is None else float(value)


def plot_loss_curve(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Training loss and validation centre MAE per epoch, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [record["epoch"] for record in history]
    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=110)
    train = [record["train_loss"] for record in history]
    if any(value is not None for value in train):
        axis.plot(epochs, [np.nan if v is None else v for v in train], label="training loss", marker=".")
    axis.plot(epochs, [record[VALIDATION_METRIC] for record in history], label="validation centre MAE", marker=".")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    staging = path.with_name(f".{path.stem}.partial.png")
    figure.savefig(staging)
    plt.close(figure)
    os.replace(staging, path)


def data_fingerprint(sources: dict[str, SourceCube]) -> str:
    """sha256 over the prepared training arrays and their dates: what the model learnt from."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode())
        _digest_content(digest, sources[name])
    return digest.hexdigest()


def source_identity(source: SourceCube) -> str:
    """sha256 over one cube's prepared arrays and dates: its content, whatever its file name."""
    digest = hashlib.sha256()
    _digest_content(digest, source)
    return digest.hexdigest()


def _digest_content(digest, source: SourceCube) -> None:
    for modality in sorted(source.cutters):
        cutter = source.cutters[modality]
        digest.update(modality.encode())
        digest.update(np.ascontiguousarray(cutter.days).tobytes())
        digest.update(np.nan_to_num(cutter.values, nan=-1.0).tobytes())


def provenance(cubes, sources: dict[str, SourceCube], split: dict[str, list[Site]], datasets) -> dict[str, Any]:
    """What a run learnt from and with which code: recorded in every checkpoint's JSON."""
    train, val, test = datasets
    return {
        "data": {
            "cubes": [str(path) for path in cubes],
            "fingerprint": data_fingerprint(sources),
            "sites": {name: [site.name for site in members] for name, members in split.items()},
            "samples": {"train_first_epoch": len(train), "val": len(val), "test": len(test)},
        },
        "cae_version": __version__,
        "git_revision": git_revision(),
    }


#: Smallest training batch: batch normalisation learns from a batch's statistics, which one
#: sample does not have. Lightning skips a step whose training_step returns None.
MIN_BATCH = 2

#: Most of a run each phase before the full loss may take (decision): a short run is not
#: spent warming up. Tried as a user would, `--max-steps 50` never left the 200-step warm-up.
WARMUP_SHARE, MAE_ONLY_SHARE, LOSS_RAMP_SHARE = 0.1, 0.2, 0.3


def fitted_to_run(config: TrainConfig, steps_per_epoch: int) -> TrainConfig:
    """`config` with its warm-up, MAE-only and loss-ramp lengths cut to fit the run's length
    (the smaller of --max-steps and epochs x steps per epoch); long runs keep them as set."""
    total = config.epochs * max(steps_per_epoch, 1)
    if config.max_steps > 0:
        total = min(total, config.max_steps)
    return replace(
        config,
        warmup_steps=min(config.warmup_steps, int(WARMUP_SHARE * total)),
        mae_only_steps=min(config.mae_only_steps, int(MAE_ONLY_SHARE * total)),
        loss_ramp_steps=min(config.loss_ramp_steps, int(LOSS_RAMP_SHARE * total)),
    )


def check_learning_rate_decay(config: TrainConfig) -> None:
    """A cosine decay ends at --max-steps, so it needs one."""
    if config.learning_rate_decay not in LEARNING_RATE_DECAYS:
        raise InputError(f"unknown learning-rate decay {config.learning_rate_decay!r}; use {' or '.join(LEARNING_RATE_DECAYS)}")
    if config.learning_rate_decay == "cosine" and config.max_steps <= 0:
        raise InputError("a cosine learning-rate decay ends at --max-steps: give --max-steps")


def beats_patch_mean(test: dict[str, float]) -> bool:
    """Whether the held-out centre MAE is below that of predicting each patch's band means:
    an encoder that does not is weaker than a summary with no latent at all."""
    return bool(test) and test["center_mae"] < test["patch_mean_center_mae"]


def center_baselines(
    model: torch.nn.Module, modality: str, dataset: PatchDataset, device: torch.device, batch_size: int = 64
) -> dict[str, float]:
    """Held-out centre MAE of the autoencoder and of predicting each patch's band means."""
    if len(dataset) == 0:
        return {}
    model_error, mean_error, count = 0.0, 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size):
            batch = batch[modality]
            values, mask = batch["target"].to(device), batch["mask"].to(device)
            reconstruction, _ = model(batch["values"].to(device), batch["day_offsets"].to(device))
            target = values[:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL]  # (B, C)
            weights = mask[:, :, None].float()  # (B, 11, 1, 15, 15)
            patch_mean = (values * weights).sum((1, 3, 4)) / weights.sum((1, 3, 4)).clamp(min=1)  # (B, C)
            predicted = reconstruction[:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL]
            model_error += (predicted - target).abs().mean(1).sum().item()
            mean_error += (patch_mean - target).abs().mean(1).sum().item()
            count += values.shape[0]
    return {"center_mae": model_error / count, "patch_mean_center_mae": mean_error / count, "samples": count}


def site_band_statistics(sources: dict[str, SourceCube], sites: Sequence[Site], modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,) mean and standard deviation of each band over the valid pixels of `sites`."""
    totals, squares, count = 0.0, 0.0, 0
    for site in sites:
        cutter = sources[site.cube].cutters[modality]
        rows, cols = slice(*site.rows), slice(*site.cols)
        valid = cutter.valid[:, None, rows, cols]  # (T, 1, h, w)
        values = np.where(valid, cutter.values[:, :, rows, cols], 0.0).astype(np.float64)  # (T, C, h, w)
        totals = totals + values.sum((0, 2, 3))
        squares = squares + (values**2).sum((0, 2, 3))
        count += int(valid.sum())
    count = max(count, 1)
    means = totals / count
    stds = np.sqrt(np.maximum(squares / count - means**2, 0.0))
    return torch.as_tensor(means, dtype=torch.float32), torch.as_tensor(stds, dtype=torch.float32)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}; use cpu, cuda or auto")
    return device


def load_sources(
    modality: str,
    cubes: Sequence[str | os.PathLike],
    halo: int = 0,
    fill: Sequence[float] | None = None,
    mask_variable: str | None = None,
) -> tuple[ModalitySpec, dict[str, SourceCube]]:
    """Open and prepare every training cube of one modality (each cube holds its own sites).

    `halo`: pixels around each patch the encoder reads (see `AutoencoderPreset.halo`).
    `fill`: the band values that replace missing ones (a trained encoder's `fill_values`);
    by default the band means of all these cubes (`cae.sampling.band_fill_values`), which
    a new encoder then saves with its weights.
    `mask_variable`: a cube variable marking invalid pixels (`cae cube check --mask-variable`).
    """
    registry = installed_modalities()
    spec = registry.spec(modality)
    prepared_cubes: dict[str, PreparedModality] = {}
    bands: tuple[str, ...] | None = None
    for path in cubes:
        cube = open_cube(path)
        found = modality_of(cube, registry, str(path))
        if found not in (modality, spec.derived_from):
            raise InputError(f"{path} holds {found}, not {modality}")
        prepared = prepare_modality(cube, spec, mask_variable=mask_variable, source=str(path))
        if bands is not None and prepared.bands != bands:
            raise InputError(
                f"{path} has bands {prepared.bands}, the other cubes {bands}; train on cubes with the same bands"
            )
        bands = prepared.bands
        name = Path(path).name
        if name in prepared_cubes:
            name = f"{name}#{len(prepared_cubes)}"
        prepared_cubes[name] = prepared
    fill = band_fill_values(list(prepared_cubes.values())) if fill is None else np.asarray(fill, np.float32)
    sources = {
        name: SourceCube.of(name, modality, {modality: prepared}, {modality: halo}, {modality: fill})
        for name, prepared in prepared_cubes.items()
    }
    return spec, sources


def split_into_sites(sources: dict[str, SourceCube], block: int, seed: int) -> dict[str, list[Site]]:
    """Blocks of every cube, split whole into train/val/test; blocks shrink until there are 4."""
    while True:
        sites = [
            site
            for name, source in sources.items()
            for site in spatial_sites(name, source.valid.shape[1], source.valid.shape[2], block, source_identity(source))
        ]
        if len(sites) >= 4 or block <= 15:
            break
        block = max(block * 2 // 3, 15)
    split = split_sites(sites, seed=seed)
    if not split["val"]:
        raise InputError("the cubes are too small to hold out validation sites; give larger or more cubes")
    return split


def check_run_dir(run_dir: Path, metadata_file: str, what: str, resume: bool) -> None:
    """What a run folder takes, so that after a kill the way on is always open.

    A folder with a saved state (written at the end of each epoch) is continued with
    --resume, and refused without it. One without a state (new, or a run killed in its first
    epoch) starts afresh, unless it holds a finished `what`: a new run never overwrites one.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} is a file, not a run folder; choose another --out")
    state = (run_dir / STATE_FILE).exists()
    if resume and not state:
        raise InputError(
            f"nothing to resume in {run_dir}: no training state saved ({STATE_FILE} is written at the end of "
            "each epoch); run again without --resume to start afresh"
        )
    if not resume and _finished(run_dir / metadata_file):
        raise InputError(f"{run_dir} already holds {what}; use --resume to continue or another --out")
    if not resume and state:
        raise InputError(
            f"{run_dir} holds an unfinished training run ({STATE_FILE}); continue it with --resume, or choose another --out"
        )
    check_writable(run_dir)


def _finished(metadata: Path) -> bool:
    """A run is finished once its JSON holds the held-out test scores, which are written last.

    A JSON that cannot be read counts as finished: what cannot be read is not overwritten.
    """
    try:
        return "test" in json.loads(metadata.read_text())
    except FileNotFoundError:
        return False
    except (ValueError, UnicodeDecodeError):
        return True


@contextmanager
def claimed_run_dir(run_dir: Path, metadata_file: str, what: str, resume: bool) -> Iterator[None]:
    """The run folder, checked (`check_run_dir`) and locked against a second run while this one trains.

    Files staged by a killed run (`.*.partial*`) are removed. Only the first process locks:
    the other DDP ranks, which it starts, share its folder.
    """
    first = rank_zero_only.rank == 0
    with sole_writer(run_dir, "cae train") if first else nullcontext():
        check_run_dir(run_dir, metadata_file, what, resume)
        if first:
            for staged in run_dir.glob(".*.partial*"):
                staged.unlink()
        yield


def site_datasets(
    sources: dict[str, SourceCube], sampling: SamplingDefaults, config: TrainConfig
) -> tuple[dict[str, list[Site]], RedrawnPatchDataset, PatchDataset, PatchDataset]:
    """Split the sources into sites; train, validation and test samples of those sites."""
    split = split_into_sites(sources, config.site_block, config.seed)
    train = RedrawnPatchDataset(sources, split["train"], sampling, config.seed)
    val = PatchDataset(held_out_positions(sources, split["val"], config.validation_spacing))
    test = PatchDataset(held_out_positions(sources, split["test"], config.test_spacing))
    return split, train, val, test


class LoggedSteps(L.Callback):
    """Training progress as plain lines, for logs where a live bar cannot be drawn: at each
    tenth of the run (its --max-steps, else its epochs) and at least every `every` seconds."""

    def __init__(self, every: float = 60.0) -> None:
        self.every, self.started, self.last_line, self.last_tenth = every, 0.0, 0.0, -1

    def on_train_start(self, trainer, task) -> None:
        self.started = self.last_line = time.monotonic()

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_index) -> None:
        total = trainer.max_steps if trainer.max_steps > 0 else trainer.max_epochs * max(trainer.num_training_batches, 1)
        step, now = trainer.global_step, time.monotonic()
        tenth = 10 * step // max(total, 1)
        if tenth <= self.last_tenth and now - self.last_line < self.every:
            return
        self.last_tenth, self.last_line = max(tenth, self.last_tenth), now
        elapsed = now - self.started
        loss = trainer.callback_metrics.get("train_loss_step", trainer.callback_metrics.get("train_loss"))
        left = f", about {elapsed * (total - step) / step / 60:.1f} min left at most" if 0 < step < total else ""
        print(f"training: step {step:,}/{total:,} (epoch {trainer.current_epoch})"
              + (f", loss {float(loss):.4f}" if loss is not None else "")
              + f", {elapsed / 60:.1f} min elapsed{left}", flush=True)


def make_trainer(run_dir: Path, config: TrainConfig, writer: CheckpointWriter, progress: bool) -> L.Trainer:
    """A Lightning trainer with the method's settings: clipping, early stopping, precision."""
    device = resolve_device(config.device)
    callbacks: list[L.Callback] = [
        L.pytorch.callbacks.EarlyStopping(
            VALIDATION_METRIC, patience=config.early_stopping_patience, mode="min", check_on_train_epoch_end=False
        ),
        writer,  # after early stopping, so the state it saves includes that epoch's check
    ]
    live = progress and sys.stdout.isatty()
    if live:
        callbacks.append(L.pytorch.callbacks.RichProgressBar())
    elif progress:
        callbacks.append(LoggedSteps())  # a batch job's log: plain lines
    run_dir.mkdir(parents=True, exist_ok=True)
    # Lightning's start-up banner (accelerators found, tips) is noise next to our progress bar.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    return L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices="auto" if device == "cuda" else 1,
        precision="bf16-mixed" if device == "cuda" else "32-true",
        max_epochs=config.epochs,
        max_steps=config.max_steps,
        gradient_clip_val=config.gradient_clip,
        deterministic=True if device == "cpu" else "warn",
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=live,
        enable_model_summary=False,
        reload_dataloaders_every_n_epochs=1,
        num_sanity_val_steps=0,
        default_root_dir=run_dir,
    )


def check_resume_state(path: Path) -> None:
    """Refuse a training state that is damaged or holds more than tensors and plain data.

    Lightning's state is a pickle; it is read with `weights_only=True`, which builds no
    arbitrary object, so a pickle planted in a run folder cannot run code.
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise InputError(
            f"cannot resume from {path}: it is damaged or not a training state cae wrote "
            f"({str(error).splitlines()[0]}); remove it and train again without --resume"
        ) from None


def fit(trainer: L.Trainer, task: L.LightningModule, data: PatchData, writer: CheckpointWriter, state: Path | None) -> None:
    """Train; then validate once more if --max-steps ended training before any validation."""
    if state is not None:
        check_resume_state(state)
    trainer.fit(task, datamodule=data, ckpt_path=state, weights_only=True if state else None)
    if not writer.history:
        trainer.validate(task, datamodule=data, verbose=False)


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
        spec, sources = load_sources(modality, cubes, preset.halo, mask_variable=mask_variable)
        config = replace(config, preset=preset.name, loss_weights=config.loss_weights or spec.loss_weights)
        sampling = config.sampling or spec.sampling
        split, train, val, test = site_datasets(sources, sampling, config)
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
        model = spec.create_model(len(bands), preset)
        if isinstance(model, ContextAutoencoder):
            model.initialise_from_data(*site_band_statistics(sources, split["train"], modality))
        registered = installed_modalities().get(modality)
        describe = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "modality": modality,
            "plugin": {"name": registered.plugin, "package": registered.package, "version": registered.version},
            "bands": list(bands),
            "preprocessing": parameters,
            # What replaces missing values in this encoder's input (`cae.sampling.fill_invalid`).
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
        scores = center_baselines(best.model, modality, test, torch.device("cpu"))
        scores["beats_patch_mean"] = beats_patch_mean(scores)
        metadata = writer.write_metadata({"test": scores})
        return TrainResult(run_dir, metadata)
