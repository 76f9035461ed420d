"""The loss curve drawn beside every checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cae.plots import pyplot, save_figure


def plot_loss_curve(history: list[dict[str, float]], path: Path, title: str, metric: str) -> None:
    """Training loss and the validation `metric` per epoch, on a log scale."""
    if not history:
        return
    plt = pyplot()
    epochs = [record["epoch"] for record in history]
    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=110)
    train = [record["train_loss"] for record in history]
    if any(value is not None for value in train):
        axis.plot(epochs, [np.nan if v is None else v for v in train], label="training loss", marker=".")
    axis.plot(epochs, [record[metric] for record in history], label="validation centre MAE", marker=".")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)
