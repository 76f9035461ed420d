"""The floor an encoder must beat: predicting each held-out patch's band means."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from cae.geometry import CENTER_DATE, CENTER_PIXEL
from cae.model.losses import patch_band_means
from cae.samples.datasets import PatchDataset


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
            patch_mean = patch_band_means(values, mask)  # (B, C)
            predicted = reconstruction[:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL]
            model_error += (predicted - target).abs().mean(1).sum().item()
            mean_error += (patch_mean - target).abs().mean(1).sum().item()
            count += values.shape[0]
    return {"center_mae": model_error / count, "patch_mean_center_mae": mean_error / count, "samples": count}
