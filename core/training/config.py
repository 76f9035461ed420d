"""What shapes a training run (DESIGN 4): saved in every checkpoint's JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cae.errors import InputError
from cae.plugins.contract import LossWeights, SamplingDefaults


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
    #: (`cae.model.losses.warmed_up_weights`; our decision).
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
    #: The split's spatial blocks are squares of about this many pixels; whole blocks go to one split.
    block_size: int = 32
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


#: Learning-rate decays after the warm-up (`TrainConfig.learning_rate_decay`).
LEARNING_RATE_DECAYS = ("plateau", "cosine")


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
