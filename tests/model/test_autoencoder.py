"""The context autoencoder and its presets: shapes, size, gradients, batch independence."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from cae.model.autoencoder import ContextAutoencoder
from cae.geometry import CENTER_DATE
from cae.model.presets import PRESETS, AutoencoderPreset, get_preset

# (bands, latent size d, temporal reduction R) of the built-in modalities.
S2 = (10, 9, 6)
S1 = (2, 2, 7)


def batch(size: int, bands: int, patch: int = 15, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random patches in [0, 1] and cumulative day offsets starting at 0."""
    generator = torch.Generator().manual_seed(seed)
    patches = torch.rand(size, 11, bands, patch, patch, generator=generator)
    gaps = torch.randint(1, 20, (size, 11), generator=generator)
    gaps[:, 0] = 0
    return patches, gaps.cumsum(dim=1)


def build(preset: AutoencoderPreset, modality: tuple[int, int, int] = S2) -> ContextAutoencoder:
    torch.manual_seed(0)
    bands, latent_dim, reduction = modality
    return ContextAutoencoder(bands, latent_dim, reduction, preset)


def test_paper_preset_builds_the_documented_shapes():
    model = build(get_preset("paper")).eval()
    patches, days = batch(2, bands=10)
    with torch.no_grad():
        token_maps = model.frame_encoder(patches.flatten(0, 1))
        recon, latent = model(patches, days)
    assert token_maps.shape == (22, 16, 4, 4)
    assert model.preset.token_dim == 256
    assert latent.shape == (2, 9)
    assert recon.shape == (2, 11, 10, 15, 15)


def test_paper_preset_has_about_3_7_million_parameters_for_s2():
    parameters = sum(p.numel() for p in build(get_preset("paper")).parameters())
    assert parameters == pytest.approx(3.7e6, rel=0.1)


def test_paper_preset_trains_on_cpu_with_finite_gradients():
    model = build(get_preset("paper")).train()
    patches, days = batch(16, bands=10)
    recon, latent = model(patches, days)
    ((recon - patches).abs().mean() + latent.mean()).backward()
    without_finite_gradient = [
        name for name, parameter in model.named_parameters()
        if parameter.grad is None or not parameter.grad.isfinite().all()
    ]
    assert without_finite_gradient == []


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_latent_does_not_depend_on_the_rest_of_the_batch(name):
    model = build(PRESETS[name]).eval()
    patches, days = batch(7, bands=10, patch=model.input_size)
    with torch.no_grad():
        together = model.encode(patches, days)
        alone = model.encode(patches[3:4], days[3:4])
    # Float32 kernels may sum in another order for another batch size, so allow rounding
    # (relative 1e-5); attending across the batch would change the latent by far more.
    torch.testing.assert_close(alone, together[3:4], atol=1e-6, rtol=1e-5)
    other = model.encode(torch.cat([patches[3:4], torch.rand_like(patches[:6])]), torch.cat([days[3:4], days[:6]]))
    torch.testing.assert_close(other[:1], alone, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "modality", [S2, (6, 9, 6), S1, (1, 2, 7)], ids=["s2", "s2-6-bands", "s1", "s1-1-band"]
)
@pytest.mark.parametrize("name", ["small", "tiny"])
def test_reconstructions_are_whole_patches_in_the_unit_range(name, modality):
    bands, latent_dim, _ = modality
    model = build(PRESETS[name], modality).eval()
    patches, days = batch(3, bands=bands)
    with torch.no_grad():
        recon, latent = model(patches, days)
    assert recon.shape == (3, 11, bands, 15, 15)
    assert latent.shape == (3, latent_dim)
    assert recon.min() >= 0 and recon.max() <= 1
    assert (latent > 0).all()  # Softplus


def test_decode_inverts_the_shapes_of_encode():
    model = build(PRESETS["tiny"], S1).eval()
    patches, days = batch(4, bands=2)
    with torch.no_grad():
        latent = model.encode(patches, days)
        assert model.decode(latent, days).shape == patches.shape


def test_latent_depends_on_the_day_offsets_and_clamps_them_to_the_table():
    model = build(PRESETS["tiny"]).eval()
    patches, days = batch(2, bands=10)
    far = torch.arange(11).repeat(2, 1) * 60  # up to 600 days
    with torch.no_grad():
        assert not torch.allclose(model.encode(patches, days), model.encode(patches, days * 2))
        torch.testing.assert_close(model.encode(patches, far), model.encode(patches, far.clamp(max=200)))


def test_encode_rejects_patches_of_the_wrong_shape():
    model = build(PRESETS["tiny"])
    patches, days = batch(2, bands=4)
    with pytest.raises(ValueError, match="patches must be"):
        model.encode(patches, days)


def test_dense_encoder_takes_a_halo_and_its_tokens_are_the_tile_map_at_the_cells():
    preset = dataclasses.replace(PRESETS["tiny"], name="tiny-dense", frame_encoder="dense")
    model = build(preset).eval()
    assert model.input_size == 25  # cells 6 pixels from the centre, each reaching 3 + 2 + 1 more
    patches, days = batch(2, bands=10, patch=25)
    with torch.no_grad():
        recon, latent = model(patches, days)
    assert recon.shape == (2, 11, 10, 15, 15) and latent.shape == (2, 9)

    # Every value of the map depends only on its neighbours: the token of a patch is the
    # map of the whole tile read at the patch's cells, and a frame of zeros around the
    # patch changes none of the map's values.
    tile = torch.rand(1, 10, 40, 42)
    top, left = 5, 8
    patch = tile[..., top : top + 25, left : left + 25]
    encoder = model.frame_encoder
    with torch.no_grad():
        tile_map = encoder.feature_map(tile)
        assert tile_map.shape == (1, preset.token_channels, 28, 30)
        cells = torch.tensor([-6, -2, 2, 6])
        rows, cols = top + 12 - 6 + cells, left + 12 - 6 + cells  # the patch centre in map pixels
        torch.testing.assert_close(encoder(patch), tile_map[..., rows[:, None], cols[None, :]], atol=1e-5, rtol=1e-5)
        wider = torch.zeros(1, 10, 27, 27)
        wider[..., 1:26, 1:26] = patch
        torch.testing.assert_close(encoder.feature_map(wider)[..., 1:14, 1:14], encoder.feature_map(patch), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    preset = PRESETS[name]
    assert AutoencoderPreset.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset


def test_from_dict_fills_missing_fields_and_rejects_unknown_ones():
    data = PRESETS["small"].to_dict()
    del data["frame_encoder"]
    assert AutoencoderPreset.from_dict(data).frame_encoder == "strided"
    with pytest.raises(ValueError, match="unknown preset fields"):
        AutoencoderPreset.from_dict({**data, "colour": "blue"})


def test_get_preset_names_the_valid_presets():
    assert get_preset("paper") == AutoencoderPreset()
    with pytest.raises(ValueError, match="paper, dense, small, tiny"):
        get_preset("huge")


def test_a_preset_that_cannot_build_a_model_is_rejected():
    with pytest.raises(ValueError, match="not divisible"):
        AutoencoderPreset(name="bad", token_channels=3, attention_heads=5)
    with pytest.raises(ValueError, match="odd"):
        AutoencoderPreset(name="bad", multiscale_kernels=(3, 6))


def test_an_untrained_latent_summarises_the_centre_date_more_than_the_edges():
    """The temporal reduction starts with the loss's date weights, 0.1 ** |k - 5|."""
    model = build(PRESETS["tiny"]).eval()
    patches, days = batch(8, bands=10)

    def change_when_date_is_replaced(date: int) -> float:
        changed = patches.clone()
        changed[:, date] = torch.rand_like(changed[:, date])
        with torch.no_grad():
            return (model.encode(changed, days) - model.encode(patches, days)).abs().mean().item()

    assert change_when_date_is_replaced(5) > 3 * max(change_when_date_is_replaced(0), change_when_date_is_replaced(10))


def test_initialise_from_data_starts_every_reconstruction_at_the_band_means():
    model = build(PRESETS["tiny"], S1).eval()
    means = torch.tensor([0.45, 0.3])
    model.initialise_from_data(means, torch.tensor([0.05, 0.02]))
    patches, days = batch(3, bands=2)
    with torch.no_grad():
        recon, _ = model(patches, days)
    per_band = recon.mean(dim=(0, 1, 3, 4))
    torch.testing.assert_close(per_band, means, atol=0.02, rtol=0)
    assert recon.std(dim=(0, 1, 3, 4)).max() < 0.02  # nearly the mean patch everywhere


def test_initialise_from_data_makes_the_stem_see_standardised_bands():
    import copy

    model = build(PRESETS["tiny"], S1).eval()
    before = copy.deepcopy(model.frame_encoder.stem)
    means, stds = torch.tensor([0.45, 0.3]), torch.tensor([0.05, 0.02])
    model.initialise_from_data(means, stds)
    standardised = torch.randn(4, 2, 15, 15)
    frames = means[:, None, None] + stds[:, None, None] * standardised
    with torch.no_grad():
        torch.testing.assert_close(model.frame_encoder.stem(frames), before(standardised), atol=1e-5, rtol=1e-5)


def test_a_single_band_decoder_head_is_wider_than_its_one_band():
    model = build(PRESETS["tiny"], (1, 2, 7))
    hidden = model.frame_decoder.head[0]
    assert hidden.out_channels == PRESETS["tiny"].head_channels > 1
    assert model.frame_decoder.head[2].out_channels == 1


def test_the_centre_path_reads_the_centre_pixel_and_predicts_it_back():
    """With the centre path the latent reads the centre pixel of the centre date directly,
    and the decoder's centre pixel at that date comes from its own head; without it (the
    paper's architecture) there is no such head and the latent's layer is the paper's width."""
    torch.manual_seed(0)
    model = ContextAutoencoder(6, 9, 6, PRESETS["tiny"]).eval()
    model.initialise_from_data(torch.full((6,), 0.2), torch.full((6,), 0.05))
    patches, days = torch.rand(2, 11, 6, 15, 15), torch.arange(11.0).expand(2, -1) * 5
    moved = patches.clone()
    moved[:, CENTER_DATE, :, 7, 7] += 0.3
    assert not torch.allclose(model.encode(patches, days), model.encode(moved, days))
    with torch.no_grad():
        model.centre_head[-1].bias.fill_(2.0)
    reconstruction = model.decode(model.encode(patches, days), days)
    torch.testing.assert_close(reconstruction[:, CENTER_DATE, :, 7, 7], torch.full((2, 6), torch.sigmoid(torch.logit(torch.tensor(0.2)) + 2.0).item()))
    assert not torch.allclose(reconstruction[:, CENTER_DATE - 1, :, 7, 7], reconstruction[:, CENTER_DATE, :, 7, 7])
    paper = ContextAutoencoder(6, 9, 6, dataclasses.replace(PRESETS["tiny"], centre_path=False))
    assert paper.centre_head is None
    assert paper.to_latent[0].in_features == PRESETS["tiny"].reduced_token_dim * 6
    assert model.to_latent[0].in_features == PRESETS["tiny"].reduced_token_dim * 6 + 6
