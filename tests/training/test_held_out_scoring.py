"""Held-out scoring, the fast way (frames shared, no decoder) against the per-window reference,
on the real Romania cube: the same samples and the same scores."""

from __future__ import annotations

import pytest
import torch

from cae.model.presets import get_preset
from cae.samples.datasets import PatchDataset

from cae.data import demo_cube_path
from cae.model.autoencoder import autoencoder_for
from cae.training.baselines import center_baselines, per_window_center_baselines
from cae.training.config import TrainConfig
from cae.training.data import block_band_statistics, block_datasets, load_sources


@pytest.mark.parametrize("preset", ["tiny", "dense"])
def test_fast_held_out_scores_equal_the_per_window_reference(preset):
    spec, sources = load_sources("s2", [demo_cube_path("s2")], get_preset(preset).halo)
    config = TrainConfig(preset=preset, block_size=32, test_spacing=8)
    split, _, _, test = block_datasets(sources, spec.sampling, config)
    if preset == "dense":  # the paper's widths: the windows of a few pixels, every date of each
        test = PatchDataset(sorted(test.items, key=lambda item: (item[1].row, item[1].col))[:40])
    torch.manual_seed(3)
    model = autoencoder_for(spec, len(next(iter(sources.values())).prepared["s2"].bands), preset)
    model.initialise_from_data(*block_band_statistics(sources, split["train"], "s2"))
    reported = []
    fast = center_baselines(model, "s2", test, torch.device("cpu"), report=lambda done, total: reported.append((done, total)))
    reference = per_window_center_baselines(model, "s2", test, torch.device("cpu"))
    assert fast["samples"] == reference["samples"] == len(test) >= 40
    assert fast["center_mae"] == pytest.approx(reference["center_mae"], abs=1e-6)
    assert fast["patch_mean_center_mae"] == pytest.approx(reference["patch_mean_center_mae"], abs=1e-6)
    assert 0.005 < reference["center_mae"] < 0.5  # a real error on reflectance, not 0 or garbage
    assert reported[-1] == (len(test), len(test)) and len(reported) >= 1
