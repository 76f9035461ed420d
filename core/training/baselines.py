"""The floor an encoder must beat: predicting each held-out patch's band means.

Scoring a held-out set is the slowest step after training when done as training sees a
sample (the whole autoencoder on every window: on a 256 x 256 px, 41-date cube, 7,750 test
windows took minutes on 2 CPU cores). The centre MAE needs far less: the centre pixel of
the centre date comes from the latent alone (the centre path's head), and each frame's token
is shared by the up to 11 windows that contain it. `center_baselines` computes exactly that
(`cae.embedding.latents.shared_latents`); `per_window_center_baselines` is the reference it
is tested against, and the way for an autoencoder without a centre head.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from cae.embedding.latents import shared_latents
from cae.geometry import CENTER_DATE, CENTER_PIXEL
from cae.model.losses import patch_band_means
from cae.samples.datasets import PatchDataset

#: `report(done, total)`: samples scored so far, called as scoring goes.
Report = Callable[[int, int], None]


def beats_patch_mean(test: dict[str, float]) -> bool:
    """Whether the held-out centre MAE is below that of predicting each patch's band means:
    an encoder that does not is weaker than a summary with no latent at all."""
    return bool(test) and test["center_mae"] < test["patch_mean_center_mae"]


def center_baselines(
    model: torch.nn.Module,
    modality: str,
    dataset: PatchDataset,
    device: torch.device,
    batch_size: int = 64,
    report: Report | None = None,
) -> dict[str, float]:
    """Held-out centre MAE of the autoencoder and of predicting each patch's band means.

    The same scores as `per_window_center_baselines` (to float rounding), each frame
    encoded once and no decoder run.
    """
    if len(dataset) == 0:
        return {}
    if getattr(model, "centre_head", None) is None or not _consecutive(dataset):
        return per_window_center_baselines(model, modality, dataset, device, batch_size, report)
    model.eval()
    model_error, mean_error, done = 0.0, 0.0, 0
    by_source: dict[int, list[int]] = {}
    for position, (source, _) in enumerate(dataset.items):
        by_source.setdefault(id(source), []).append(position)
    for positions in by_source.values():
        source = dataset.items[positions[0]][0]
        cutter = source.cutters[modality]
        values = torch.from_numpy(cutter.values).to(device)  # (T, C, H, W), filled as samples are
        days = torch.from_numpy(cutter.days).to(device)
        centres = torch.tensor([dataset.items[position][1].center for position in positions], device=device)
        # Windows of the same pixels together, so that a part's frames are shared within it.
        pixel = centres[:, 1] * values.shape[-1] + centres[:, 2]
        order = torch.argsort(pixel, stable=True)
        for part in _parts_by_pixel(pixel[order], batch_size * 8):
            members = order[part]
            tile, tile_centres = _around(values, centres[members], model.input_size // 2)
            latents = shared_latents(model, tile, days, tile_centres, batch_size)
            with torch.no_grad():
                predicted = model.centre_prediction(latents)  # (B, C)
            t, y, x = centres[members].unbind(1)
            target = values[t, :, y, x]  # (B, C)
            model_error += (predicted - target).abs().mean(1).sum().item()
            for start in range(0, len(members), batch_size):  # the baseline reads each patch
                batch = [dataset.items[positions[i]] for i in members[start : start + batch_size].tolist()]
                patches = [src.cutters[modality].cut(index) for src, index in batch]
                halo = cutter.halo
                patch_values = torch.from_numpy(np.stack([p.values for p in patches]))
                patch_values = patch_values[..., halo : patch_values.shape[-2] - halo, halo : patch_values.shape[-1] - halo]
                patch_mask = torch.from_numpy(np.stack([p.mask for p in patches]))
                patch_mean = patch_band_means(patch_values, patch_mask)
                mean_error += (patch_mean - target[start : start + batch_size].cpu()).abs().mean(1).sum().item()
            done += len(members)
            if report is not None:
                report(done, len(dataset))
    return {"center_mae": model_error / done, "patch_mean_center_mae": mean_error / done, "samples": done}


def _around(values: torch.Tensor, centres: torch.Tensor, reach: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The tile of `values` (T, C, H, W) that holds the windows of `centres` (N, 3), and the
    centres in it: a dense encoder runs over whole tiles, which need not be the whole cube."""
    top, left = int(centres[:, 1].min()) - reach, int(centres[:, 2].min()) - reach
    bottom, right = int(centres[:, 1].max()) + reach + 1, int(centres[:, 2].max()) + reach + 1
    shift = torch.tensor([0, top, left], device=centres.device)
    return values[:, :, top:bottom, left:right], centres - shift


def _consecutive(dataset: PatchDataset) -> bool:
    """Whether every sample has 11 consecutive dates (held-out positions do), as the shared
    computation assumes."""
    return all(index.dates == tuple(range(index.dates[0], index.dates[0] + len(index.dates))) for _, index in dataset.items)


def _parts_by_pixel(sorted_pixels: torch.Tensor, size: int) -> list[slice]:
    """Slices of about `size` windows of `sorted_pixels` that never split one pixel's windows."""
    starts = [0]
    boundaries = (torch.nonzero(sorted_pixels[1:] != sorted_pixels[:-1]).flatten() + 1).tolist()
    for boundary in boundaries:
        if boundary - starts[-1] >= size:
            starts.append(boundary)
    return [slice(start, stop) for start, stop in zip(starts, starts[1:] + [len(sorted_pixels)])]


def per_window_center_baselines(
    model: torch.nn.Module,
    modality: str,
    dataset: PatchDataset,
    device: torch.device,
    batch_size: int = 64,
    report: Report | None = None,
) -> dict[str, float]:
    """The reference: the whole autoencoder on every window, as training sees a sample."""
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
            if report is not None:
                report(count, len(dataset))
    return {"center_mae": model_error / count, "patch_mean_center_mae": mean_error / count, "samples": count}
