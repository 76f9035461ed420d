"""Models and an embedding of the real demo cube for the evaluation tests.

The models train for a handful of steps: these tests check what the evaluation computes
and writes, not how good the models are.
"""

from __future__ import annotations

import pytest
import torch

from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.fusion.training import train_fusion
from cae.training.encoder import train_encoder


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Small models on a shared 2-core machine run several times faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def training_cube(tmp_path_factory):
    """All 140 dates of the 48 x 48 pixel north-west corner of the real Romania cube: four
    blocks of 24 x 24 pixels, small enough that validation and test scoring stay quick."""
    path = tmp_path_factory.mktemp("cube") / "romania_northwest.zarr"
    write_cube(open_cube(demo_cube_path("s2")).isel(y=slice(0, 48), x=slice(0, 48)), path)
    return path


@pytest.fixture(scope="session")
def runs(tmp_path_factory, training_cube):
    """A folder of runs: the S2 encoder and fusion over it, both trained on the corner."""
    root = tmp_path_factory.mktemp("runs")
    train_encoder("s2", [training_cube], root / "s2", demo_training_config("s2", max_steps=10), progress=False)
    train_fusion([training_cube], root / "fusion", demo_training_config("s2", max_steps=5), runs=root, progress=False)
    return root


@pytest.fixture(scope="session")
def crop_cube(tmp_path_factory):
    """All 140 dates of a 24 x 24 pixel piece of the Romania cube that training never saw."""
    path = tmp_path_factory.mktemp("cube") / "romania_southeast.zarr"
    write_cube(open_cube(demo_cube_path("s2")).isel(y=slice(60, 84), x=slice(60, 84)), path)
    return path


@pytest.fixture(scope="session")
def crop_store(runs, crop_cube, tmp_path_factory):
    """`cae embed` of that piece with the fusion model."""
    store = crop_cube.parent / "southeast_embedding.zarr"  # beside its cube: evaluate gpp reads the cube only there
    embed([crop_cube], runs / "fusion", store, EmbedOptions(device="cpu", batch_size=256))
    return store
