"""The contract every installed modality meets, built-in or third-party.

The tests are parametrised over whatever is installed, so a plugin package installed next
to cae (e.g. examples/cae-spectral-indices, as CI does) is held to the same contract:
its spec is valid, its preprocessing maps its own sample cube into [0, 1] with a
validity mask, and its encoder survives a checkpoint round trip bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cae.checkpoint import WEIGHTS_FILE, load_encoder, save_weights
from cae.cube.io import open_cube, write_cube
from cae.cube.prepare import prepare_modality
from cae.cube.stack import modality_of
from cae.modality import SamplingDefaults
from cae.plugins import installed_modalities
from cae.training import TrainConfig, train_encoder

INSTALLED = sorted(installed_modalities().modalities)

#: A corner of the sample cube, big enough for train, validation and test sites.
CROP = dict(time=slice(0, 100), y=slice(0, 48), x=slice(0, 48))
ROUND_TRIP_CONFIG = TrainConfig(
    preset="tiny",
    max_steps=2,
    epochs=1,
    sampling=SamplingDefaults(window_dates=20, window_stride=8, patch_stride=4),
    validation_spacing=8,
    test_spacing=8,
    device="cpu",
)


@pytest.fixture(scope="module", params=INSTALLED)
def modality(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def sample(modality):
    """The modality's own sample cube, loaded."""
    spec = installed_modalities().spec(modality)
    assert spec.sample_cube is not None, f"{modality} declares no sample_cube: the contract is checked on it"
    path = Path(spec.sample_cube())
    assert path.exists(), f"the sample cube of {modality} is missing: {path}"
    return open_cube(path).load()


def test_every_installed_plugin_loads_with_a_valid_spec():
    registry = installed_modalities()
    assert registry.failures == []
    for name, item in registry.modalities.items():
        assert item.spec.problems() == [], name
        assert item.package and item.version, name


def test_the_sample_cube_is_one_the_modality_reads(modality, sample):
    registry = installed_modalities()
    spec = registry.spec(modality)
    assert modality_of(sample, registry, "sample cube") in (modality, spec.derived_from)
    if spec.derived_from is not None:
        assert spec.derived_from in registry.modalities


def test_preprocessing_maps_the_sample_cube_into_the_unit_range_with_a_mask(modality, sample):
    spec = installed_modalities().spec(modality)
    raw = spec.preprocess(sample)
    assert set(raw.values.dims) == {"time", "band", "y", "x"}
    assert set(raw.valid.dims) == {"time", "y", "x"}
    assert raw.valid.dtype == bool
    assert [str(name) for name in raw.values["band"].values] == list(raw.bands)
    values = raw.values.transpose("time", "band", "y", "x").values
    valid = raw.valid.transpose("time", "y", "x").values
    assert values.shape[0] == valid.shape[0] == sample.sizes["time"]
    used = values[np.broadcast_to(valid[:, None], values.shape) & np.isfinite(values)]
    assert used.size > 0, "no valid value in the sample cube"
    assert used.min() >= 0.0 and used.max() <= 1.0

    prepared = prepare_modality(sample, spec, source="sample cube")
    missing = np.isnan(prepared.values.values).any(axis=1)
    np.testing.assert_array_equal(missing, ~prepared.valid.values)
    assert len(set(prepared.bands)) == len(prepared.bands) > 0
    json.dumps(prepared.parameters)  # recorded in every checkpoint and compared by fusion


def test_the_encoder_round_trips_a_checkpoint(modality, sample, tmp_path):
    crop = write_cube(sample.isel(CROP), tmp_path / "crop.zarr")
    result = train_encoder(modality, [crop], tmp_path / "run", ROUND_TRIP_CONFIG, progress=False)
    loaded = load_encoder(result.run_dir)
    assert save_weights(loaded.model, tmp_path / WEIGHTS_FILE) == result.metadata["weights_sha256"]
    spec = installed_modalities().spec(modality)
    assert loaded.bands == prepare_modality(open_cube(crop), spec).bands
    size = loaded.model.input_size
    values = torch.rand(2, 11, len(loaded.bands), size, size, generator=torch.Generator().manual_seed(0))
    days = torch.arange(11, dtype=torch.float32).repeat(2, 1) * 10
    again = load_encoder(result.run_dir)
    with torch.no_grad():
        first, second = loaded.model(values, days), again.model(values, days)
    for one, other in zip(first, second):
        torch.testing.assert_close(one, other, rtol=0, atol=0)
