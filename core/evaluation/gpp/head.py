"""The GPP head: a small transformer from a 90-day window of daily inputs to GPP on its last day.

As in the paper: inputs projected to d_model, a learned embedding of each day's position in
the window (scaled by 1 / sqrt(d_model)), a transformer encoder over the days, the last
day's token through LayerNorm -> Linear -> GELU -> Linear to one value, trained with L1 on
standardised GPP. `paper` holds the authors' settings (d_model 96, 8 heads, 3 layers,
feed-forward 1024, dropout 0.05, batch 12, AdamW lr 1e-4, weight decay 1e-6, 300 warm-up
steps). Decision: the authors stop early on their test year; we stop early on a validation
part the caller holds out of the training windows, so nothing of a test split steers
training. Training is sized in optimiser steps, not epochs: batches are drawn (with
replacement) from every training window, so a head fed two sites gets as many steps as one
fed thirty-nine; epochs over every 10th day's window starved small site sets (a few dozen
steps, flat predictions). Each head runs at least `min_steps`, at most `steps`, and keeps
the weights of its best validation check.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class HeadPreset:
    """Architecture and optimisation of the GPP head."""

    name: str = "paper"
    d_model: int = 96
    heads: int = 8
    layers: int = 3
    feedforward: int = 1024
    dropout: float = 0.05
    batch_size: int = 12
    learning_rate: float = 1e-4
    weight_decay: float = 1e-6
    warmup_steps: int = 300
    #: Most optimiser steps; the learning rate decays (cosine) over them after the warm-up.
    steps: int = 10000
    #: Fewest optimiser steps before early stopping may end training (all `steps` if fewer).
    min_steps: int = 1000
    #: Steps between two validation checks, and checks without improvement before stopping.
    check_every: int = 250
    patience: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


HEAD_PRESETS = {
    "paper": HeadPreset(),
    # The same structure at a size that trains 39 leave-one-site-out folds on a CPU.
    "small": HeadPreset(
        name="small", d_model=32, heads=4, layers=2, feedforward=64, batch_size=64, learning_rate=1e-3,
        weight_decay=1e-4, warmup_steps=50, steps=2000, min_steps=300, check_every=100, patience=5,
    ),
}


class GppHead(nn.Module):
    """(B, window, F) standardised daily inputs -> (B,) standardised GPP on the last day."""

    def __init__(self, n_inputs: int, window: int, config: HeadPreset) -> None:
        super().__init__()
        self.project = nn.Linear(n_inputs, config.d_model)
        self.position = nn.Embedding(window, config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.heads, config.feedforward, config.dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.out = nn.Sequential(
            nn.LayerNorm(config.d_model),
            nn.Linear(config.d_model, config.d_model // 2),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.d_model // 2, 1),
        )
        self.register_buffer("days", torch.arange(window), persistent=False)
        self.scale = 1 / math.sqrt(config.d_model)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        tokens = self.project(inputs) + self.position(self.days) * self.scale  # (B, T, d)
        encoded = self.encoder(tokens)  # (B, T, d)
        return self.out(encoded[:, -1]).squeeze(-1)  # (B,)


@dataclass(frozen=True)
class Training:
    """How a head's training went: steps run, the step whose weights were kept, and its
    validation L1 (standardised GPP; None without a validation part)."""

    steps: int
    best_step: int
    validation_l1: float | None

    def to_dict(self) -> dict:
        return asdict(self)


Gather = Callable[[np.ndarray], np.ndarray]


def fit_head(
    gather: Gather,
    targets: np.ndarray,
    n_inputs: int,
    window: int,
    config: HeadPreset,
    *,
    validation: tuple[Gather, np.ndarray] | None,
    seed: int,
    device: str,
) -> tuple[GppHead, Training]:
    """Train a head on windows `gather(rows)` -> `targets` (rows index `targets`).

    Inputs and targets are already standardised. `validation`: (gather, targets) of held-out
    windows, checked every `config.check_every` steps and on the last; training stops once
    `config.patience` checks in a row bring no improvement (not before `config.min_steps`)
    and the best check's weights are returned. Without it, or with fewer steps than
    `check_every` (nothing to stop early): all `config.steps`, the last weights.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GppHead(n_inputs, window, config).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.steps
    warmup = min(config.warmup_steps, total // 2)

    def rate(step: int) -> float:
        if step < warmup:
            return 1e-3 + (1 - 1e-3) * step / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    target = torch.as_tensor(targets, dtype=torch.float32)
    best_loss, best_step, best_state = math.inf, 0, None
    if total < config.check_every:
        validation = None
    for step in range(1, total + 1):
        model.train()
        rows = rng.integers(0, len(targets), config.batch_size)
        inputs = torch.as_tensor(gather(rows), dtype=torch.float32, device=device)
        loss = nn.functional.l1_loss(model(inputs), target[rows].to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if validation is None or (step % config.check_every and step < total):
            continue
        checked = _validation_l1(model, validation, device)
        if checked < best_loss:
            best_loss, best_step, best_state = checked, step, copy.deepcopy(model.state_dict())
        elif step >= config.min_steps and step - best_step >= config.patience * config.check_every:
            break
    if best_state is None:
        return model.eval(), Training(step, step, None)
    model.load_state_dict(best_state)
    return model.eval(), Training(step, best_step, best_loss)


def _validation_l1(model: GppHead, validation: tuple[Gather, np.ndarray], device: str) -> float:
    gather, targets = validation
    predicted = predict_head(model.eval(), gather, len(targets), device)
    return float(np.mean(np.abs(predicted - targets)))


def predict_head(model: GppHead, gather: Gather, n: int, device: str, batch_size: int = 512) -> np.ndarray:
    """Standardised predictions for windows `gather(rows)`, rows 0..n-1."""
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            out.append(model(torch.as_tensor(gather(rows), dtype=torch.float32, device=device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
