"""`cae evaluate reconstruction`: the encoder against PCA on the blocks its training held out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cae.checkpoint import read_metadata
from cae.cli.app import run
from cae.evaluation.reconstruction import Scores, training_split, fit_pca
from cae.plugins.contract import SamplingDefaults
from cae.samples.datasets import RedrawnPatchDataset
from cae.model.presets import AutoencoderPreset


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reconstruction")
    assert run(["evaluate", "reconstruction", "--model", str(runs), "--out", str(out), "--device", "cpu"]) == 0
    return out, json.loads((out / "reconstruction.json").read_text())


def test_the_encoder_is_scored_on_its_recorded_test_sites_as_training_scored_it(runs, report):
    _, document = report
    metadata = read_metadata(runs / "s2")
    (result,) = document["modalities"].values()
    assert result["evaluated_on"]["blocks"] == metadata["data"]["blocks"]["test"]
    # The same held-out patches as training's own test scoring, so the same numbers.
    assert result["samples"] == metadata["test"]["samples"]
    assert result["scores"]["autoencoder"]["center_mae"] == pytest.approx(metadata["test"]["center_mae"], rel=1e-4)
    assert result["scores"]["patch_mean"]["center_mae"] == pytest.approx(metadata["test"]["patch_mean_center_mae"], rel=1e-4)


def test_pca_has_the_latent_size_and_is_fitted_on_training_blocks_only(runs, report):
    _, document = report
    metadata = read_metadata(runs / "s2")
    result = document["modalities"]["s2"]
    assert result["pca"]["components"] == metadata["latent_dim"] == 9
    assert result["pca"]["training_blocks"] == metadata["data"]["blocks"]["train"]
    assert not set(result["pca"]["training_blocks"]) & set(result["evaluated_on"]["blocks"])
    sources, split = training_split(metadata, AutoencoderPreset.from_dict(metadata["preset"]).halo)
    pca, fitted_on = fit_pca(metadata, sources, split, max_samples=10_000)
    train = RedrawnPatchDataset(sources, split["train"], SamplingDefaults(**metadata["sampling"]), metadata["training"]["seed"])
    patches = np.stack([train[i]["s2"]["target"].numpy().ravel() for i in range(len(train))])
    assert fitted_on == len(train) == metadata["data"]["samples"]["train_first_epoch"]
    np.testing.assert_allclose(pca.mean_, patches.mean(0), atol=1e-5)
    test = RedrawnPatchDataset(sources, split["test"], SamplingDefaults(**metadata["sampling"]), 0)
    test_mean = np.stack([test[i]["s2"]["target"].numpy().ravel() for i in range(len(test))]).mean(0)
    assert np.abs(pca.mean_ - test_mean).max() > 1e-3  # what fitting on the test blocks would have given


def test_the_markdown_shows_every_method(report):
    out, document = report
    text = (out / "reconstruction.md").read_text()
    for method in ("autoencoder", "pca", "patch_mean"):
        assert f"| {method} |" in text
    assert f"{document['modalities']['s2']['samples']} held-out patches" in text


def test_scores_equal_hand_computed_values():
    target = torch.rand(3, 11, 4, 15, 15) * 0.5 + 0.1
    mask = torch.ones(3, 11, 15, 15, dtype=torch.bool)
    same = Scores()
    same.add(target, target, mask)
    assert same.result(4) == pytest.approx({"center_mae": 0.0, "sam": 0.0, "ssim": 1.0}, abs=1e-5)
    brighter = target.clone()
    brighter[:, 5, :, 7, 7] *= 2  # the centre spectrum: twice as bright, same direction
    scaled = Scores()
    scaled.add(brighter, target, mask)
    expected = target[:, 5, :, 7, 7].mean(1).mean().item()  # |2x - x| = x, averaged over bands, then samples
    assert scaled.result(4)["center_mae"] == pytest.approx(expected, rel=1e-5)
    assert scaled.result(4)["sam"] == pytest.approx(0.0, abs=1e-4)
    assert scaled.result(1)["sam"] is None  # no spectrum with one band


def test_a_cube_it_never_saw_is_evaluated_whole(runs, crop_cube, tmp_path, capsys):
    assert run(["evaluate", "reconstruction", "--model", str(runs / "s2"), "--cube", str(crop_cube),
                "--out", str(tmp_path), "--device", "cpu"]) == 0
    result = json.loads((tmp_path / "reconstruction.json").read_text())["modalities"]["s2"]
    assert result["evaluated_on"]["blocks"] == ["romania_southeast.zarr[0:24, 0:24]"]
    assert result["samples"] > 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "PCA, 9 components" in printed and "autoencoder" in printed and "patch mean" in printed


def test_a_folder_without_an_encoder_is_bad_input(tmp_path, capsys):
    assert run(["evaluate", "reconstruction", "--model", str(tmp_path)]) == 2
    assert "no trained encoder" in capsys.readouterr().err
    assert not (tmp_path / "reconstruction.json").exists()
