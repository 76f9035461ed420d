"""Fusion over frozen encoders: frozen means bit-identical, any number of modalities, missing ones masked."""

from __future__ import annotations

import hashlib
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cae.checkpoint import WEIGHTS_FILE, load_encoder
from cae.cli.app import run
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.errors import InputError
from cae.fusion.checkpoint import FUSION_METADATA, load_fusion
from cae.fusion.model import FusionModel
from cae.fusion.training import FusionTask, train_fusion
from cae.plugins.manager import installed_modalities
from cae.training.encoder import train_encoder

STEPS = 12


def _state_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.cpu().numpy().tobytes())
    return digest.hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def place(tmp_path_factory, romania_s2):
    """The real Romania S2 cube and a SYNTHETIC S1 cube on its grid (no real co-registered S1 exists)."""
    folder = tmp_path_factory.mktemp("place")
    rng = np.random.default_rng(3)
    times = romania_s2["time"].values + np.timedelta64(2, "D")
    s1 = romania_s2[["B02"]].isel(time=slice(0, len(times))).assign_coords(time=times).rename({"B02": "VH"})
    s1["VH"] = (("time", "y", "x"), (-17 + 2 * rng.standard_normal(s1["VH"].shape)).astype("float32"))
    s1["VH"].attrs = {"units": "dB"}
    s1.attrs = {"modality": "s1", "synthetic": "yes: random backscatter on the real S2 grid"}
    s1_path = folder / "synthetic_s1_on_romania_grid.nc"
    s1.to_netcdf(s1_path)
    runs = folder / "runs"
    train_encoder("s2", [demo_cube_path("s2")], runs / "s2", demo_training_config("s2", max_steps=STEPS), progress=False)
    train_encoder("s1", [s1_path], runs / "s1", demo_training_config("s1", max_steps=STEPS), progress=False)
    return {"s2": demo_cube_path("s2"), "s1": s1_path, "runs": runs, "folder": folder}


def test_fusion_trains_only_fusion_layers_and_leaves_encoders_bit_identical(place):
    runs = place["runs"]
    before = {name: _file_hash(runs / name / WEIGHTS_FILE) for name in ("s1", "s2")}
    loaded_before = {name: _state_hash(load_encoder(runs / name).model) for name in ("s1", "s2")}
    result = train_fusion(
        [place["s2"], place["s1"]], place["folder"] / "fusion", demo_training_config("s2", max_steps=STEPS),
        runs=runs, progress=False,
    )
    assert {name: _file_hash(runs / name / WEIGHTS_FILE) for name in ("s1", "s2")} == before
    fused = load_fusion(result.run_dir)
    assert {name: _state_hash(checkpoint.model) for name, checkpoint in fused.encoders.items()} == loaded_before
    assert set(result.metadata["encoders"]) == {"s1", "s2"}
    assert result.metadata["encoders"]["s2"]["weights_sha256"] == load_encoder(runs / "s2").metadata["weights_sha256"]
    assert np.isfinite(result.metadata["test"]["s2"]["fusion_center_mae"])


def test_optimiser_holds_only_fusion_parameters(place):
    encoders = {name: load_encoder(place["runs"] / name) for name in ("s1", "s2")}
    specs = {name: installed_modalities().spec(name) for name in encoders}
    fusion = FusionModel({name: spec.latent_dim for name, spec in specs.items()})
    task = FusionTask(fusion, {name: c.model for name, c in encoders.items()}, specs, "s2", demo_training_config("s2"))
    [optimizer], _ = task.configure_optimizers()
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in fusion.parameters()}
    assert not any(p.requires_grad for p in task.encoders.parameters())
    task.train()
    assert task.fusion.training and not any(module.training for module in task.encoders.modules())


def test_embedding_is_independent_of_batch_composition_and_finite():
    torch.manual_seed(0)
    model = FusionModel({"s1": 2, "s2": 9}).eval()
    latents = {"s1": torch.rand(8, 2), "s2": torch.rand(8, 9)}
    gaps = {"s1": torch.randint(0, 12, (8,)).float(), "s2": torch.zeros(8)}
    present = {"s1": torch.tensor([True, False] * 4), "s2": torch.ones(8, dtype=torch.bool)}
    with torch.no_grad():
        batch = model.embed(latents, gaps, present)
        for i in range(8):
            alone = model.embed(*({k: v[i : i + 1] for k, v in part.items()} for part in (latents, gaps, present)))
            torch.testing.assert_close(alone[0], batch[i], atol=1e-6, rtol=0)
    assert batch.shape == (8, 7) and torch.isfinite(batch).all() and (batch > 0).all()


def test_a_missing_modality_has_no_influence_on_the_embedding():
    torch.manual_seed(0)
    model = FusionModel({"s1": 2, "s2": 9}).eval()
    latents = {"s1": torch.rand(4, 2), "s2": torch.rand(4, 9)}
    present = {"s1": torch.zeros(4, dtype=torch.bool), "s2": torch.ones(4, dtype=torch.bool)}
    gaps = {"s1": torch.zeros(4), "s2": torch.zeros(4)}
    with torch.no_grad():
        first = model.embed(latents, gaps, present)
        second = model.embed({**latents, "s1": torch.rand(4, 2) * 50}, {**gaps, "s1": torch.full((4,), 300.0)}, present)
    torch.testing.assert_close(first, second, atol=1e-6, rtol=0)


INDEX_PLUGIN = '''
    import numpy as np
    import xarray as xr
    from cae.plugins.hookspecs import hookimpl
    from cae.plugins.contract import Band, LossWeights, ModalitySpec, PreparedModality

    def preprocess(cube, mask_variable=None):
        nir, red = cube["B08"], cube["B04"]
        index = ((nir - red) / (nir + red) + 1) / 2
        values = index.expand_dims(band=["NDVI"]).transpose("time", "band", "y", "x").clip(0, 1)
        valid = np.isfinite(index) & ~cube["SCL"].isin([0, 1, 3, 8, 9, 10])
        return PreparedModality("testindex", ("NDVI",), values, valid, {"index": "NDVI"})

    @hookimpl
    def register_modalities(register):
        register(ModalitySpec(
            name="testindex", title="test NDVI plugin", bands=(Band("B04", "reflectance"), Band("B08", "reflectance")),
            preprocess=preprocess, latent_dim=2, temporal_reduction=3,
            loss_weights=LossWeights(mae=1.0), fusion_loss_weights=LossWeights(mae=1.0),
        ))
'''


@pytest.fixture
def index_plugin(tmp_path, monkeypatch):
    """A third modality installed through a real entry point (a test plugin)."""
    (tmp_path / "cae_testindex.py").write_text(textwrap.dedent(INDEX_PLUGIN))
    info = tmp_path / "cae_testindex-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cae-testindex\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[cae.modalities]\ncae-testindex = cae_testindex\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    installed_modalities.cache_clear()
    yield
    installed_modalities.cache_clear()


def test_a_third_installed_modality_retrains_fusion_without_touching_the_others(place, tmp_path, index_plugin):
    index_cube = tmp_path / "romania_index.nc"
    cube = xr_open(place["s2"])[["B04", "B08", "SCL"]]
    cube.attrs = {"modality": "testindex"}
    cube.to_netcdf(index_cube)
    runs = place["runs"]
    before = {name: _file_hash(runs / name / WEIGHTS_FILE) for name in ("s1", "s2")}
    train_encoder("testindex", [index_cube], runs / "testindex", demo_training_config("s2", max_steps=STEPS), progress=False)
    result = train_fusion(
        [place["s2"], place["s1"], index_cube], tmp_path / "fusion3", demo_training_config("s2", max_steps=STEPS),
        runs=runs, progress=False,
    )
    assert set(result.metadata["encoders"]) == {"s1", "s2", "testindex"}
    assert {name: _file_hash(runs / name / WEIGHTS_FILE) for name in ("s1", "s2")} == before
    installed_modalities.cache_clear()
    import sys

    sys.path.remove(str(index_cube.parent))  # uninstall the plugin
    installed_modalities.cache_clear()
    with pytest.raises(InputError, match="needs modality 'testindex'.*not installed"):
        load_fusion(result.run_dir)
    shutil.rmtree(runs / "testindex")


def xr_open(path):
    from cae.cube.io import open_cube

    return open_cube(path).load()


def test_loading_refuses_an_encoder_that_changed(place, tmp_path):
    result_dir = place["folder"] / "fusion"
    if not (result_dir / FUSION_METADATA).exists():
        pytest.skip("needs the fusion trained above")
    copy = tmp_path / "s2"
    shutil.copytree(place["runs"] / "s2", copy)
    retrained = train_encoder("s2", [demo_cube_path("s2")], tmp_path / "other", demo_training_config("s2", max_steps=3), progress=False)
    shutil.copy(retrained.run_dir / WEIGHTS_FILE, copy / WEIGHTS_FILE)
    shutil.copy(retrained.run_dir / "encoder.json", copy / "encoder.json")
    with pytest.raises(InputError, match="not the one this fusion model was trained over"):
        load_fusion(result_dir, encoder_dirs={"s2": copy})


def test_fusion_command_needs_an_encoder_per_cube(tmp_path, capsys):
    code = run(["train", "--fusion", "--runs", str(tmp_path / "empty")])
    assert code == 2 and "no trained encoder" in capsys.readouterr().err
    assert run(["train", "--modality", "s2", "--modality", "s1"]) == 2


def test_fusion_holds_out_the_blocks_its_encoder_held_out(place):
    """Fusion cut with another seed than the encoder would score it on the encoder's training
    pixels; it adopts the encoder's recorded split instead (DESIGN 3, `split_as_recorded`)."""
    from cae.training.data import load_sources, recorded_blocks, split_into_blocks

    encoder_split = recorded_blocks(load_encoder(place["runs"] / "s2").metadata)
    _, sources = load_sources("s2", [place["s2"]])
    own = {part: [block.name for block in blocks] for part, blocks in split_into_blocks(sources, 32, 3).items()}
    assert own["test"] != encoder_split["test"]  # the seed alone would have held out another block
    config = demo_training_config("s2", max_steps=2, seed=3, block_size=16)  # the encoder's: seed 42, blocks of 32
    result = train_fusion([place["s2"]], place["folder"] / "fusion-seed3", config,
                          encoders={"s2": place["runs"] / "s2"}, runs=None, progress=False)
    assert result.metadata["data"]["blocks"] == encoder_split
    assert result.metadata["data"]["split_from"] == {"encoder": "s2"}


def test_a_split_the_encoder_did_not_cut_is_cut_here_and_a_leak_is_warned_about():
    from cae.errors import DataWarning
    from cae.training.config import TrainConfig
    from cae.training.data import load_sources, split_into_blocks, split_like_encoder

    _, sources = load_sources("s2", [demo_cube_path("s2")])
    own = split_into_blocks(sources, 32, 42)
    names = [block.name for blocks in own.values() for block in blocks]
    # An encoder that validated on other cubes and trained on every block of this one.
    trained_everywhere = {"modality": "s2", "training": {"block_size": 32}, "data": {"blocks": {"train": names, "val": ["b.zarr[0:32, 0:32]"], "test": []}}}
    with pytest.warns(DataWarning, match="holds out: its held-out scores include pixels the encoder was fitted to"):
        split, adopted = split_like_encoder(trained_everywhere, sources, TrainConfig())
    assert not adopted and split == own
    elsewhere = {"modality": "s2", "training": {"block_size": 32}, "data": {"blocks": {"train": ["b.zarr[0:32, 0:32]"], "val": [], "test": []}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an encoder of other cubes: nothing to warn about
        assert split_like_encoder(elsewhere, sources, TrainConfig()) == (own, False)


def test_a_recorded_split_is_adopted_only_when_it_cut_the_same_blocks():
    from cae.samples.blocks import SpatialBlock
    from cae.training.data import split_as_recorded

    blocks = [SpatialBlock("a.zarr", rows, cols) for rows in ((0, 32), (32, 64)) for cols in ((0, 32), (32, 64))]
    own = {"train": blocks[:2], "val": blocks[2:3], "test": blocks[3:]}
    names = [block.name for block in blocks]
    recorded = {"train": [names[3], names[1], "b.zarr[0:32, 0:32]"], "val": [names[0]], "test": [names[2]]}
    assert split_as_recorded(recorded, own) == {"train": [blocks[3], blocks[1]], "val": [blocks[0]], "test": [blocks[2]]}
    assert split_as_recorded({"train": names[:3], "val": [], "test": names[3:]}, own) is None  # nothing to validate on
    other_grid = {"train": ["a.zarr[0:50, 0:64]"], "val": ["a.zarr[50:64, 0:32]"], "test": ["a.zarr[50:64, 32:64]"]}
    assert split_as_recorded(other_grid, own) is None


def test_the_fusion_preset_is_chosen_on_the_command_line_recorded_and_kept_on_resume(place, capsys):
    out = place["folder"] / "fusion-no-dropout"
    assert run(["train", "--fusion", "--cube", str(place["s2"]), "--encoder", f"s2={place['runs'] / 's2'}", "--out", str(out),
                "--max-steps", "2", "--fusion-preset", "no-dropout"]) == 0
    fused = load_fusion(out)
    assert fused.metadata["fusion_preset"]["name"] == "no-dropout" and fused.model.preset.dropout == 0.0
    assert all(module.p == 0.0 for module in fused.model.modules() if isinstance(module, torch.nn.Dropout))
    recorded = (out / FUSION_METADATA).read_bytes()
    assert run(["train", "--fusion", "--resume", "--out", str(out), "--fusion-preset", "paper"]) == 2  # not another preset
    assert "was started with the fusion preset" in " ".join(capsys.readouterr().err.split())
    assert (out / FUSION_METADATA).read_bytes() == recorded
