"""The reconstruction losses against hand-computed values on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from cae.model.losses import (
    LossWeights,
    center_mae,
    context_weights,
    reconstruction_loss,
    spectral_angle,
    ssim_loss,
    weighted_mae,
    weighted_sam,
    warmed_up_weights,
)

S1_WEIGHTS = LossWeights(mae=1.0, center_weight=1.0)
S2_WEIGHTS = LossWeights(mae=0.33, ssim=0.02, sam=0.65, center_weight=1.0)


def random_sample(batch: int = 3, bands: int = 4, seed: int = 0):
    """Recon, target and a mask with about a third of the positions invalid."""
    generator = torch.Generator().manual_seed(seed)
    recon = torch.rand(batch, 11, bands, 15, 15, generator=generator)
    target = torch.rand(batch, 11, bands, 15, 15, generator=generator)
    mask = torch.rand(batch, 11, 15, 15, generator=generator) > 0.33
    return recon, target, mask


def normaliser(center_weight: float) -> float:
    """Sum of the unnormalised weights: (space sum) x (time sum), centre swapped for lambda_c."""
    space = 1 + sum(8 * d * 0.01 * 0.1 ** (d - 1) for d in range(1, 8))
    time = 1 + 2 * sum(0.1**k for k in range(1, 6))
    return space * time - 1 + center_weight


@pytest.mark.parametrize("center_weight", [1.0, 1.75])
def test_context_weights_follow_the_formula(center_weight):
    weights = context_weights(center_weight=center_weight).double()
    z = normaliser(center_weight)
    assert weights.shape == (11, 15, 15)
    assert weights.sum().item() == pytest.approx(1.0, rel=1e-6)
    assert weights[5, 7, 7].item() == pytest.approx(center_weight / z, rel=1e-6)
    assert weights[5, 7, 8].item() == pytest.approx(0.01 / z, rel=1e-6)
    assert weights[5, 6, 6].item() == pytest.approx(0.01 / z, rel=1e-6)  # Chebyshev: diagonal is d = 1
    assert weights[5, 9, 6].item() == pytest.approx(0.001 / z, rel=1e-6)
    assert weights[4, 7, 7].item() == pytest.approx(0.1 / z, rel=1e-6)
    assert weights[7, 7, 8].item() == pytest.approx(0.01 * 0.01 / z, rel=1e-6)
    assert weights[0, 0, 14].item() == pytest.approx(0.1**5 * 0.01 * 0.1**6 / z, rel=1e-5)


def test_context_weights_are_symmetric_about_the_centre():
    weights = context_weights()
    torch.testing.assert_close(weights, weights.flip(0))
    torch.testing.assert_close(weights, weights.flip(1))
    torch.testing.assert_close(weights, weights.transpose(1, 2))


def test_weighted_mae_matches_hand_computation():
    # 3 dates of 3 x 3 pixels: space weights 1 (centre) and 0.01, time weights 0.1, 1, 0.1.
    target = torch.zeros(1, 3, 2, 3, 3)
    recon = target.clone()
    recon[0, 1, :, 1, 1] = torch.tensor([0.2, 0.4])  # centre, band-mean error 0.3, weight 1
    recon[0, 1, :, 0, 1] = torch.tensor([1.0, 0.0])  # neighbour, error 0.5, weight 0.01
    recon[0, 0, :, 1, 1] = torch.tensor([0.1, 0.1])  # centre pixel one date off, error 0.1, weight 0.1
    mask = torch.ones(1, 3, 3, 3, dtype=torch.bool)
    z = (1 + 8 * 0.01) * (1 + 2 * 0.1)
    expected = (0.3 + 0.01 * 0.5 + 0.1 * 0.1) / z
    assert weighted_mae(recon, target, mask).item() == pytest.approx(expected, rel=1e-6)

    mask[0, 1, 0, 1] = False  # the neighbour drops out and the rest is renormalised
    expected = (0.3 + 0.1 * 0.1) / (z - 0.01)
    assert weighted_mae(recon, target, mask).item() == pytest.approx(expected, rel=1e-6)

    expected = (2 * 0.3 + 0.1 * 0.1) / (z - 0.01 - 1 + 2)  # lambda_c = 2
    lambda_2 = weighted_mae(recon, target, mask, center_weight=2.0)
    assert lambda_2.item() == pytest.approx(expected, rel=1e-6)


def test_weighted_mae_averages_over_samples_with_data():
    target = torch.zeros(3, 3, 1, 3, 3)
    recon = torch.full_like(target, 0.5)
    recon[1] = 0.1
    mask = torch.ones(3, 3, 3, 3, dtype=torch.bool)
    mask[2] = False  # a sample without any valid position neither adds nor counts
    assert weighted_mae(recon, target, mask).item() == pytest.approx((0.5 + 0.1) / 2, rel=1e-6)


def spectra(*values: list[float]) -> torch.Tensor:
    """Spectra laid out as one date of a 1 x N frame: (1, 1, C, 1, N)."""
    return torch.tensor(values).T[None, None, :, None, :].contiguous()


def test_spectral_angle_of_known_spectra():
    recon = spectra([1.0, 0.0], [1.0, 1.0], [0.3, 0.6], [2.0, 0.0])
    target = spectra([0.0, 1.0], [1.0, 0.0], [0.3, 0.6], [1.0, 0.0])
    angles = spectral_angle(recon, target)
    expected = torch.tensor([math.pi / 2, math.pi / 4, 0.0, 0.0])
    torch.testing.assert_close(angles.flatten(), expected, atol=1e-6, rtol=0)


def test_spectral_angle_is_safe_at_zero_vectors_and_identical_spectra():
    recon = spectra([0.0, 0.0], [0.0, 0.0], [0.2, 0.5]).requires_grad_()
    target = spectra([1.0, 0.0], [0.0, 0.0], [0.2, 0.5])
    angles = spectral_angle(recon, target)
    expected = torch.tensor([math.pi / 2, math.pi / 2, 0.0])
    torch.testing.assert_close(angles.flatten(), expected, atol=1e-6, rtol=0)
    angles.sum().backward()
    assert torch.isfinite(recon.grad).all()


def test_spectral_angle_with_one_band_is_zero_for_positive_values():
    recon = torch.rand(2, 11, 1, 15, 15) + 0.01
    target = torch.rand(2, 11, 1, 15, 15) + 0.01
    assert spectral_angle(recon, target).abs().max().item() < 1e-6


def test_weighted_sam_matches_hand_computation():
    target = torch.zeros(1, 3, 2, 3, 3)
    target[:, :, 0] = 1.0  # every target spectrum is (1, 0)
    recon = target.clone()
    recon[0, 1, :, 1, 1] = torch.tensor([1.0, 1.0])  # centre: pi / 4
    recon[0, 1, :, 1, 2] = torch.tensor([0.0, 3.0])  # neighbour: pi / 2, weight 0.01
    mask = torch.ones(1, 3, 3, 3, dtype=torch.bool)
    z = (1 + 8 * 0.01) * (1 + 2 * 0.1)
    expected = (math.pi / 4 + 0.01 * math.pi / 2) / z
    assert weighted_sam(recon, target, mask).item() == pytest.approx(expected, rel=1e-5)


def test_ssim_of_identical_frames_is_zero_loss():
    _, target, mask = random_sample()
    assert ssim_loss(target.clone(), target, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_of_flat_frames_is_the_luminance_term():
    # Flat frames have no variance, so SSIM is (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 x 1)^2;
    # float64, because float32 variances of flat frames are off by ~1e-8, against C2 = 9e-4.
    recon = torch.full((1, 11, 2, 15, 15), 0.5, dtype=torch.float64)
    target = torch.full((1, 11, 2, 15, 15), 0.2, dtype=torch.float64)
    mask = torch.ones(1, 11, 15, 15, dtype=torch.bool)
    c1 = 0.01**2
    expected = 1 - (2 * 0.5 * 0.2 + c1) / (0.5**2 + 0.2**2 + c1)
    assert ssim_loss(recon, target, mask).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "loss",
    [
        weighted_mae,
        weighted_sam,
        ssim_loss,
        lambda recon, target, mask: reconstruction_loss(recon, target, mask, S2_WEIGHTS)[0],
    ],
    ids=["mae", "sam", "ssim", "total"],
)
def test_masked_positions_have_no_effect(loss):
    recon, target, mask = random_sample()
    changed = torch.where(mask[:, :, None], recon, torch.rand_like(recon) * 3)
    assert not torch.equal(changed, recon)
    torch.testing.assert_close(loss(changed, target, mask), loss(recon, target, mask), rtol=0, atol=0)


def test_reconstruction_loss_combines_its_weighted_parts():
    recon, target, mask = random_sample()
    total, parts = reconstruction_loss(recon, target, mask, S2_WEIGHTS)
    assert set(parts) == {"mae", "ssim", "sam"}
    assert parts["mae"].item() == pytest.approx(weighted_mae(recon, target, mask).item())
    expected = 0.33 * parts["mae"] + 0.02 * parts["ssim"] + 0.65 * parts["sam"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_reconstruction_loss_with_mae_only_is_the_mae():
    recon, target, mask = random_sample(bands=2)
    recon.requires_grad_()
    total, parts = reconstruction_loss(recon, target, mask, S1_WEIGHTS)
    assert total.item() == pytest.approx(parts["mae"].item())
    total.backward()
    assert torch.isfinite(recon.grad).all()


def test_center_mae_matches_hand_computation():
    target = torch.zeros(3, 11, 2, 15, 15)
    recon = target.clone()
    recon[0, 5, :, 7, 7] = torch.tensor([0.1, 0.3])  # error 0.2
    recon[1, 5, :, 7, 7] = torch.tensor([0.9, 0.9])  # invalid centre: left out
    recon[2, 5, :, 7, 7] = torch.tensor([0.4, 0.2])  # error 0.3
    recon[0, 4, :, 7, 7] = 1.0  # another date: ignored
    recon[0, 5, :, 7, 8] = 1.0  # another pixel: ignored
    mask = torch.ones(3, 11, 15, 15, dtype=torch.bool)
    mask[1, 5, 7, 7] = False
    assert center_mae(recon, target, mask).item() == pytest.approx((0.2 + 0.3) / 2, rel=1e-6)


def test_loss_weights_warm_up_from_the_mae_alone_to_the_modality_weights():
    start = warmed_up_weights(S2_WEIGHTS, 0, mae_only_steps=300, ramp_steps=600)
    assert (start.mae, start.ssim, start.sam) == (1.0, 0.0, 0.0)
    assert warmed_up_weights(S2_WEIGHTS, 299, 300, 600) == start
    halfway = warmed_up_weights(S2_WEIGHTS, 600, 300, 600)
    assert halfway.mae == pytest.approx((1 + 0.33) / 2)
    assert (halfway.ssim, halfway.sam) == (pytest.approx(0.01), pytest.approx(0.325))
    assert warmed_up_weights(S2_WEIGHTS, 900, 300, 600) == S2_WEIGHTS
    assert warmed_up_weights(S2_WEIGHTS, 10**6, 300, 600) == S2_WEIGHTS
    assert warmed_up_weights(S2_WEIGHTS, 0, 0, 0) == S2_WEIGHTS  # no warm-up at all
    assert {halfway.center_weight, start.center_weight} == {S2_WEIGHTS.center_weight}


def test_loss_warm_up_leaves_an_mae_only_modality_unchanged():
    for step in (0, 450, 900):
        assert warmed_up_weights(S1_WEIGHTS, step, 300, 600) == S1_WEIGHTS
