"""Reconstruction losses of the context autoencoder (DESIGN section 4).

The latent should describe the centre pixel at the centre date, in its context; the loss
therefore weighs each position of the (11, 15, 15) sample by how close it lies to that centre
in space and time (`context_weights`), and leaves out invalid positions (clouds, no data)
through the mask. Shapes: recon and target (B, T, C, H, W) in [0, 1], mask (B, T, H, W) bool,
True where the target is valid. Inputs must be finite everywhere, masked positions included
(DESIGN 3 fills them with the patch's band means).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from kornia.metrics import ssim
from torch import Tensor

from cae.plugins.contract import LossWeights

__all__ = [
    "LossWeights",
    "center_mae",
    "context_weights",
    "reconstruction_loss",
    "spectral_angle",
    "ssim_loss",
    "weighted_mae",
    "weighted_sam",
    "warmed_up_weights",
]

#: Data range of model inputs and reconstructions, for SSIM's stabilising constants.
DATA_RANGE = 1.0
SSIM_WINDOW = 7
#: Spectra shorter than this are treated as zero vectors by the spectral angle.
_NORM_FLOOR = 1e-8


def context_weights(n_dates: int = 11, size: int = 15, center_weight: float = 1.0) -> Tensor:
    """(n_dates, size, size) weights, summing to 1, that fall off away from the centre.

    Space: 1 at the centre pixel, 0.01 * 0.1**(d - 1) at Chebyshev distance d >= 1. Time:
    0.1**|k - centre date|. The product's centre entry is then set to `center_weight`
    (lambda_c), which tunes how much the centre pixel counts against its context.
    """
    center_date, center = n_dates // 2, size // 2
    offsets = (torch.arange(size) - center).abs()
    distance = torch.maximum(offsets[:, None], offsets[None, :])  # (H, W)
    tenth = torch.tensor(0.1, dtype=torch.float64)
    space = torch.where(distance == 0, 1.0, 0.01 * tenth ** (distance - 1))  # (H, W)
    time = tenth ** (torch.arange(n_dates) - center_date).abs()  # (T,)
    weights = time[:, None, None] * space  # (T, H, W)
    weights[center_date, center, center] = center_weight
    return (weights / weights.sum()).float()


def _per_sample_weights(mask: Tensor, center_weight: float) -> Tensor:
    """Context weights restricted to each sample's valid positions, renormalised to sum 1.

    A sample without any valid position gets all-zero weights and so adds nothing.
    """
    dates, size = mask.shape[1], mask.shape[2]
    weights = context_weights(dates, size, center_weight).to(mask.device) * mask  # (B, T, H, W)
    total = weights.sum(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return weights / total.clamp_min(torch.finfo(weights.dtype).tiny)


def _weighted_mean(values: Tensor, mask: Tensor, center_weight: float) -> Tensor:
    """Context-weighted mean of (B, T, H, W) values per sample, averaged over samples with data."""
    weights = _per_sample_weights(mask, center_weight)  # (B, T, H, W)
    per_sample = (weights * values).sum(dim=(1, 2, 3))  # (B,)
    samples_with_data = mask.flatten(1).any(dim=1).sum()
    return per_sample.sum() / samples_with_data.clamp_min(1)


def weighted_mae(recon: Tensor, target: Tensor, mask: Tensor, center_weight: float = 1.0) -> Tensor:
    """Context-weighted mean absolute error over valid positions, averaged over bands."""
    error = (recon - target).abs().mean(dim=2)  # (B, T, H, W)
    return _weighted_mean(error, mask, center_weight)


def spectral_angle(recon: Tensor, target: Tensor) -> Tensor:
    """Angle in radians between the spectra (band axis 2) at each position: (B, T, H, W).

    The angle ignores brightness and measures the shape of the spectrum. It is computed as
    2 * atan2(|u - v|, |u + v|) of the unit vectors u, v, which stays exact near 0 where
    arccos of the cosine loses all precision and has an infinite gradient. A spectrum shorter
    than 1e-8 counts as the zero vector, which has no direction: its angle to any spectrum,
    another zero vector included, is pi / 2 (the largest angle between non-negative spectra),
    and gradients stay finite.
    With one band there is no spectrum: the angle between two positive values is always 0,
    so SAM carries no information for a single-band modality and should get weight 0.
    """
    unit_recon = recon / torch.linalg.vector_norm(recon, dim=2, keepdim=True).clamp_min(_NORM_FLOOR)
    unit_target = target / torch.linalg.vector_norm(target, dim=2, keepdim=True).clamp_min(_NORM_FLOOR)
    # Squared lengths plus a floor, so that neither atan2(0, 0) nor the gradient of a zero-length
    # norm can appear; the floor shifts angles by about 1e-10 rad.
    apart = ((unit_recon - unit_target).square().sum(dim=2) + 1e-20).sqrt()  # (B, T, H, W)
    together = ((unit_recon + unit_target).square().sum(dim=2) + 1e-20).sqrt()  # (B, T, H, W)
    return 2 * torch.atan2(apart, together)


def weighted_sam(recon: Tensor, target: Tensor, mask: Tensor, center_weight: float = 1.0) -> Tensor:
    """Spectral angle mapper: context-weighted mean spectral angle over valid positions."""
    return _weighted_mean(spectral_angle(recon, target), mask, center_weight)


def ssim_loss(recon: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """1 - mean SSIM of each band of each date's whole frame (7x7 Gaussian window, sigma 1.5).

    SSIM compares local structure, which a per-pixel loss ignores. It needs whole frames, so
    masked positions cannot be skipped: they are set to the target before comparing. The
    loss then does not depend on the reconstruction there at all, although those positions
    still enter the local statistics of their windows as perfect matches. The window slides
    over the frame without padding (the 9 x 9 windows inside 15 x 15), as in the original
    method, and the mean runs over the frames that hold at least one valid position.
    """
    batch, dates, bands, height, width = recon.shape
    filled = torch.where(mask[:, :, None], recon, target)  # (B, T, C, H, W)
    similarity = ssim(
        filled.reshape(batch * dates, bands, height, width),
        target.reshape(batch * dates, bands, height, width),
        window_size=SSIM_WINDOW,
        max_val=DATA_RANGE,
        eps=0.0,
        padding="valid",
    )  # (N, C, H - 6, W - 6)
    per_frame = similarity.mean(dim=(1, 2, 3)).reshape(batch, dates)  # (B, T)
    frame_has_data = mask.flatten(2).any(dim=2)  # (B, T)
    return ((1 - per_frame) * frame_has_data).sum() / frame_has_data.sum().clamp_min(1)


def reconstruction_loss(
    recon: Tensor, target: Tensor, mask: Tensor, weights: LossWeights
) -> tuple[Tensor, dict[str, Tensor]]:
    """The training loss, mae * MAE + ssim * SSIM + sam * SAM, and its parts (detached).

    Every part is reported whatever its weight, so that logs of different modalities line up;
    only parts with a non-zero weight enter the total and its gradient.
    """
    parts = {
        "mae": weighted_mae(recon, target, mask, weights.center_weight),
        "ssim": ssim_loss(recon, target, mask),
        "sam": weighted_sam(recon, target, mask, weights.center_weight),
    }
    factors = {"mae": weights.mae, "ssim": weights.ssim, "sam": weights.sam}
    weighted = [factors[name] * part for name, part in parts.items() if factors[name]]
    total = sum(weighted, recon.new_zeros(()))
    return total, {name: part.detach() for name, part in parts.items()}


def warmed_up_weights(weights: LossWeights, step: int, mae_only_steps: int, ramp_steps: int) -> LossWeights:
    """The loss weights at optimiser step `step`: MAE alone at first, then blended into `weights`.

    Decision (the paper trains with its weights from the start, and for far longer): SAM
    ignores brightness, and its gradient, which grows as 1 / |spectrum|, is about twenty
    times the MAE's per unit of weight on reflectances near 0.1. With S2's 0.65 on SAM from
    step one, the autoencoder learnt the mean spectral shape and, in the steps a CPU run
    has, never started to use its latent (on the real Romania cube the tiny preset stayed
    worse than predicting each patch's mean after 1,500 steps; with MAE alone it beat it
    after 300). So the first `mae_only_steps` steps train on the MAE alone, the next
    `ramp_steps` move linearly to `weights`, which hold from then on. The centre weight
    is never changed; a modality trained on MAE alone (S1) is not affected at all.
    """
    if step >= mae_only_steps + ramp_steps:
        return weights
    progress = max((step - mae_only_steps) / max(ramp_steps, 1), 0.0)
    return replace(weights, mae=1 - progress + progress * weights.mae, ssim=progress * weights.ssim, sam=progress * weights.sam)


def center_mae(recon: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """MAE over bands at the centre pixel of the centre date, over samples valid there.

    The validation metric: the latent describes that pixel, so its reconstruction is what
    matters. NaN when no sample of the batch has a valid centre.
    """
    center_date, center = recon.shape[1] // 2, recon.shape[-1] // 2
    at_center = (slice(None), center_date, slice(None), center, center)
    error = (recon[at_center] - target[at_center]).abs()  # (B, C)
    valid = mask[:, center_date, center, center]  # (B,)
    return error.mean(dim=1)[valid].mean()


def patch_band_means(target: Tensor, mask: Tensor) -> Tensor:
    """(B, C) mean of each band over a patch's valid values: the baseline with no latent at
    all, which predicts every value of a patch as its band mean.

    `target` (B, T, C, H, W), `mask` (B, T, H, W).
    """
    weights = mask[:, :, None].float()  # (B, T, 1, H, W)
    return (target * weights).sum((1, 3, 4)) / weights.sum((1, 3, 4)).clamp(min=1)
