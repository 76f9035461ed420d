"""Fusion's held-out scores, the fast way (centre heads only, each encoder once) against the
reference (whole reconstructions), with the shipped demo model on the real Romania cube."""

from __future__ import annotations

import pytest

from cae.data import demo_cube_path, demo_model_path
from cae.fusion.checkpoint import load_fusion
from cae.fusion.training import FusionTask, fusion_scores, per_window_fusion_scores
from cae.plugins.manager import installed_modalities
from cae.samples.datasets import PatchDataset, SourceCube
from cae.training.config import TrainConfig
from cae.training.data import block_datasets
from cae.cube.stack import load_stack


def test_fast_fusion_scores_equal_the_reference():
    registry = installed_modalities()
    fusion = load_fusion(demo_model_path() / "fusion")
    stack = load_stack([demo_cube_path("s2")], registry)
    encoders = {name: loaded.model for name, loaded in fusion.encoders.items()}
    halos = {name: model.frame_encoder.halo for name, model in encoders.items()}
    fills = {name: loaded.metadata["fill_values"] for name, loaded in fusion.encoders.items()}
    sources = {"romania": SourceCube.of("romania", stack.time_axis, dict(stack.modalities), halos, fills)}
    config = TrainConfig(test_spacing=8)
    _, _, _, test = block_datasets(sources, registry.spec("s2").sampling, config)
    test = PatchDataset(test.items[:64])
    task = FusionTask(fusion.model, encoders, {"s2": registry.spec("s2")}, stack.time_axis, config)
    reported = []
    fast = fusion_scores(task, test, lambda done, total: reported.append((done, total)))
    reference = per_window_fusion_scores(task, test)
    assert fast.keys() == reference.keys() == {"s2"}
    assert fast["s2"]["samples"] == reference["s2"]["samples"] > 40
    for key in ("fusion_center_mae", "autoencoder_center_mae"):
        assert fast["s2"][key] == pytest.approx(reference["s2"][key], abs=1e-7)
    # A trained model's error on reflectance (the shipped fusion: 0.004 on these samples, 0.009 held out).
    assert 0.001 < fast["s2"]["fusion_center_mae"] < 0.1
    assert reported[-1] == (64, 64)
