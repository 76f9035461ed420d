"""The modality contract, as checks a plugin's own test suite runs (no checkout of cae needed).

    from cae.testing import check_modality

    def test_my_sensor_meets_the_cae_contract(tmp_path):
        check_modality("my_sensor", tmp_path)

Each check raises AssertionError saying what the modality got wrong: its spec is valid,
its sample cube is one it reads, its preprocessing maps that cube into [0, 1] with a
validity mask, and an encoder trained for two steps on a corner of it survives a
checkpoint round trip bit for bit. cae's own suite runs them for every installed modality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cae.plugins.contract import SamplingDefaults
from cae.plugins.manager import installed_modalities

#: A corner of the sample cube, big enough for train, validation and test blocks.
ROUND_TRIP_CROP = dict(time=slice(0, 100), y=slice(0, 48), x=slice(0, 48))


def check_modality(name: str, folder: Path) -> None:
    """Every check of the contract; `folder` is an empty folder the round trip may write to."""
    check_spec(name)
    check_sample_cube(name)
    check_preprocessing(name)
    check_checkpoint_round_trip(name, folder)


def check_spec(name: str) -> None:
    """The modality is installed, its plugin loaded without failures, its spec is valid."""
    from cae.plugins.manager import sampling_problems

    registry = installed_modalities()
    assert not registry.failures, f"plugins failed to load: {registry.failures}"
    assert name in registry.modalities, f"{name} is not installed (installed: {', '.join(registry.modalities)})"
    installed = registry.get(name)
    problems = installed.spec.problems() + sampling_problems(installed.spec)
    assert not problems, f"{name}: {'; '.join(problems)}"
    assert installed.package and installed.version, f"{name}: its package has no name or version"


def sample_cube(name: str):
    """The modality's own small real cube, loaded."""
    from cae.cube.io import open_cube

    spec = installed_modalities().spec(name)
    assert spec.sample_cube is not None, f"{name} declares no sample_cube: the contract is checked on it"
    path = Path(spec.sample_cube())
    assert path.exists(), f"the sample cube of {name} is missing: {path}"
    return open_cube(path).load()


def check_sample_cube(name: str) -> None:
    """cae recognises the sample cube as this modality's (or its source's, when derived)."""
    from cae.cube.stack import modality_of

    registry = installed_modalities()
    spec = registry.spec(name)
    found = modality_of(sample_cube(name), registry, "sample cube")
    assert found in (name, spec.derived_from), f"the sample cube of {name} is read as {found}"
    if spec.derived_from is not None:
        assert spec.derived_from in registry.modalities, f"{name} derives from {spec.derived_from}, not installed"


def check_preprocessing(name: str) -> None:
    """Preprocessing maps the sample cube into [0, 1], NaN exactly where not valid."""
    from cae.cube.prepare import prepare_modality

    spec = installed_modalities().spec(name)
    sample = sample_cube(name)
    raw = spec.preprocess(sample)
    assert set(raw.values.dims) == {"time", "band", "y", "x"}, f"values have dims {raw.values.dims}"
    assert set(raw.valid.dims) == {"time", "y", "x"}, f"the mask has dims {raw.valid.dims}"
    assert raw.valid.dtype == bool, f"the mask is {raw.valid.dtype}, not bool"
    assert [str(band) for band in raw.values["band"].values] == list(raw.bands), "the band coordinate is not `bands`"
    values = raw.values.transpose("time", "band", "y", "x").values
    valid = raw.valid.transpose("time", "y", "x").values
    assert values.shape[0] == valid.shape[0] == sample.sizes["time"], "preprocessing changed the number of dates"
    used = values[np.broadcast_to(valid[:, None], values.shape) & np.isfinite(values)]
    assert used.size > 0, "no valid value in the sample cube"
    assert used.min() >= 0.0 and used.max() <= 1.0, f"valid values span [{used.min()}, {used.max()}], not [0, 1]"

    prepared = prepare_modality(sample, spec, source="sample cube")
    missing = np.isnan(prepared.values.values).any(axis=1)
    assert (missing == ~prepared.valid.values).all(), "prepared values are NaN elsewhere than where not valid"
    assert len(set(prepared.bands)) == len(prepared.bands) > 0, f"bands {prepared.bands}"
    json.dumps(prepared.parameters)  # recorded in every checkpoint and compared by fusion


def check_checkpoint_round_trip(name: str, folder: Path) -> None:
    """An encoder trained for two steps reloads bit for bit, with the bands it was trained on."""
    import torch

    from cae.checkpoint import WEIGHTS_FILE, load_encoder, save_weights
    from cae.cube.io import open_cube, write_cube
    from cae.cube.prepare import prepare_modality
    from cae.training.config import TrainConfig
    from cae.training.encoder import train_encoder

    folder = Path(folder)
    config = TrainConfig(
        preset="tiny", max_steps=2, epochs=1, device="cpu", validation_spacing=8, test_spacing=8,
        sampling=SamplingDefaults(window_dates=20, window_stride=8, patch_stride=4),
    )
    crop = write_cube(sample_cube(name).isel(ROUND_TRIP_CROP), folder / "crop.zarr")
    result = train_encoder(name, [crop], folder / "run", config, progress=False)
    loaded = load_encoder(result.run_dir)
    assert save_weights(loaded.model, folder / WEIGHTS_FILE) == result.metadata["weights_sha256"], (
        "the reloaded weights differ from those the checkpoint's JSON names"
    )
    spec = installed_modalities().spec(name)
    assert loaded.bands == prepare_modality(open_cube(crop), spec).bands, "the checkpoint's bands differ from the cube's"
    size = loaded.model.input_size
    values = torch.rand(2, 11, len(loaded.bands), size, size, generator=torch.Generator().manual_seed(0))
    days = torch.arange(11, dtype=torch.float32).repeat(2, 1) * 10
    again = load_encoder(result.run_dir)
    with torch.no_grad():
        first, second = loaded.model(values, days), again.model(values, days)
    for one, other in zip(first, second):
        assert torch.equal(one, other), "two loads of the same checkpoint compute different outputs"
