"""The training engine both stages share (encoders, then fusion).

Lightning provides the machinery: mixed precision on GPU, DDP over several GPUs, gradient
clipping, early stopping, deterministic seeding and resumable training state. What is ours
is shared here once: the base task (batches too small skipped, the optimiser and its
schedule), the data module, the callback that writes the self-describing checkpoint, and
the trainer with the method's settings. Each stage adds its task and what it records.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
import torch
from torch.utils.data import DataLoader, Sampler

from cae.atomic import staged, write_bytes, write_json
from cae.checkpoint import CURVE_FILE, save_weights
from cae.samples.datasets import PatchDataset, RedrawnPatchDataset
from cae.training.config import TrainConfig
from cae.training.curves import plot_loss_curve
from cae.training.device import resolve_device
from cae.training.run_folder import STATE_FILE, check_resume_state

#: What early stopping, the learning-rate plateau and the kept weights follow.
VALIDATION_METRIC = "val_center_mae"

#: Smallest training batch: batch normalisation learns from a batch's statistics, which one
#: sample does not have. Lightning skips a step whose training_step returns None.
MIN_BATCH = 2


def batch_size(batch: dict[str, dict[str, torch.Tensor]]) -> int:
    """Samples in a batch (a dict of modalities, each a dict of tensors)."""
    return next(iter(batch.values()))["values"].shape[0]


class ReconstructionTask(L.LightningModule):
    """What both stages' tasks share: the optimiser and its schedule over the parameters
    that train, batches too small for batch normalisation skipped, the loss logged.

    A stage implements `training_loss(batch)`, `validation_step` and `trained_parameters()`.
    """

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self._step_started: float | None = None

    def training_loss(self, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError

    def trained_parameters(self) -> Iterator[torch.nn.Parameter]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, dict[str, torch.Tensor]], batch_index: int) -> torch.Tensor | None:
        size = batch_size(batch)
        if size < MIN_BATCH:
            return None  # skipped (no optimiser step): an epoch's draw may leave one sample over
        total = self.training_loss(batch)
        now = time.perf_counter()
        if self._step_started is not None:
            self.log("samples_per_s", size / (now - self._step_started), prog_bar=True, batch_size=size)
        self._step_started = now
        self.log("train_loss", total, prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        return total

    def on_train_epoch_start(self) -> None:
        self._step_started = None  # the time between epochs (validation) is no step

    def configure_optimizers(self):
        return optimizers_for(self.trained_parameters(), self.config)


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
            write_bytes(self.run_dir / self.weights_file, self.restored_weights)
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
            # The validation `fit` runs after training (`trainer.validate`) finds Lightning moved on to an
            # epoch that holds no step: its record takes the epoch of the last steps.
            "epoch": (self.history[-1]["epoch"] + 1 if self.history else 0) if trainer.state.fn == TrainerFn.VALIDATING
            else trainer.current_epoch,
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
        if trainer.is_global_zero:
            with staged(self.run_dir / STATE_FILE) as staging:
                trainer.save_checkpoint(staging, weights_only=False)
        else:  # the other DDP processes join the save, which only the first one writes
            trainer.save_checkpoint(self.run_dir / STATE_FILE, weights_only=False)

    def write_metadata(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        metadata = {
            **self.describe,
            "weights_sha256": self.best.get("weights_sha256"),
            "best": {key: value for key, value in self.best.items() if key != "weights_sha256"},
            "metrics": self.history,
            **(extra or {}),
        }
        write_json(self.run_dir / self.metadata_file, metadata)
        plot_loss_curve(self.history, self.run_dir / CURVE_FILE, self.title, VALIDATION_METRIC)
        return metadata


def _as_float(value) -> float | None:
    return None if value is None else float(value)

class LoggedSteps(L.Callback):
    """Training progress as plain lines, for logs where a live bar cannot be drawn: at each
    tenth of the run (its --max-steps, else its epochs) and at least every `every` seconds;
    each validation pass likewise, by batches, ending with its metric."""

    def __init__(self, every: float = 60.0) -> None:
        self.every, self.started, self.last_line, self.last_tenth = every, 0.0, 0.0, -1
        self.validation_started, self.validation_line, self.validation_tenth = 0.0, 0.0, 0

    def on_validation_start(self, trainer, task) -> None:
        self.validation_started = self.validation_line = time.monotonic()
        self.validation_tenth = 0
        print(f"validation: started ({sum(trainer.num_val_batches):,} batches)", flush=True)

    def on_validation_batch_end(self, trainer, task, outputs, batch, batch_index, dataloader_idx=0) -> None:
        total, done, now = sum(trainer.num_val_batches), batch_index + 1, time.monotonic()
        tenth = 10 * done // max(total, 1)
        if (tenth > self.validation_tenth and done < total) or now - self.validation_line >= self.every:
            self.validation_tenth, self.validation_line = max(tenth, self.validation_tenth), now
            print(f"validation: batch {done:,}/{total:,}, {now - self.validation_started:.0f} s elapsed", flush=True)

    def on_validation_end(self, trainer, task) -> None:
        metric = trainer.callback_metrics.get(VALIDATION_METRIC)
        print(f"validation: done in {time.monotonic() - self.validation_started:.1f} s"
              + (f", {VALIDATION_METRIC} {float(metric):.4f}" if metric is not None else ""), flush=True)

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


def fit(trainer: L.Trainer, task: L.LightningModule, data: PatchData, writer: CheckpointWriter, state: Path | None) -> None:
    """Train; then validate once more if --max-steps ended training after the last validation.

    Lightning validates at the end of each epoch, so a run stopped mid-epoch by --max-steps
    never scored its last steps: with a cosine decay, the steps at the lowest learning rate
    (the demo's 3,000 steps ended 117 steps after its last validation).
    """
    if state is not None:
        check_resume_state(state)
    trainer.fit(task, datamodule=data, ckpt_path=state, weights_only=True if state else None)
    if not writer.history or writer.history[-1]["step"] != trainer.global_step:
        trainer.validate(task, datamodule=data, verbose=False)
