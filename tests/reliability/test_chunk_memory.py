"""`cae embed` sizes its chunks against the device's free memory (cae.embedding.memory): a chunk
that cannot fit is refused before any work, naming the largest that can; `--chunk auto` picks
the largest that fits. The free memory is faked: the GPU branch runs on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_faults import fails_cleanly

from cae.cli.app import run
from cae.embedding import memory
from cae.embedding.job import AUTO, EmbedOptions
from cae.embedding.plan import plan
from cae.embedding.run import embed


def test_largest_chunk_finds_the_boundary():
    assert memory.largest_chunk(lambda side: side * side <= 1000, 500) == 31
    assert memory.largest_chunk(lambda side: False, 500) == 0
    assert memory.largest_chunk(lambda side: True, 77) == 77


def test_the_estimate_grows_with_the_chunk_and_the_dense_maps():
    shape = {"s2": memory.EncoderShape(bands=6, reach=7, token_dim=256, latent_dim=9, widest=298)}
    small, large = (memory.chunk_bytes(shape, 7, side, 32, dense=False) for side in (64, 128))
    assert 3.5 < large / small < 4.2
    assert memory.chunk_bytes(shape, 7, 64, 32, dense=True) > small


def test_a_chunk_that_cannot_fit_is_refused_with_the_largest_that_can(real_crop, tiny_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "free_memory", lambda device: 8 * 2**20)  # 8 MiB free
    out = tmp_path / "store.zarr"
    argv = ["embed", str(real_crop), "--model", str(tiny_runs / "fusion"), "--out", str(out), "--chunk", "1000000"]
    err = fails_cleanly(argv, capsys, "a chunk of 24 x 24 pixels", "GiB free. The largest chunk that fits: --chunk")
    largest = int(err.split("--chunk ")[1].split()[0])
    options = EmbedOptions(device="cpu", chunk=largest)
    assert plan([real_crop], tiny_runs / "fusion", out, options).chunk_shape[1] == largest  # and it is accepted
    assert list(tmp_path.iterdir()) == []


def test_chunk_auto_fills_a_share_of_the_free_memory_and_embeds_the_same(real_crop, tiny_runs, tmp_path, monkeypatch):
    reference, _ = embed([real_crop], tiny_runs / "fusion", tmp_path / "reference.zarr", EmbedOptions(device="cpu", chunk=8))
    monkeypatch.setattr(memory, "free_memory", lambda device: 200 * 2**20)
    store, planned = embed([real_crop], tiny_runs / "fusion", tmp_path / "auto.zarr",
                           EmbedOptions(device="cpu", chunk=AUTO, batch_size=AUTO))
    dates, side, _ = planned.chunk_shape
    fusion = planned.job
    assert 1 <= side <= 24 and planned.job.batch_size >= memory.BATCH_RANGE[0]
    shapes = {name: memory.encoder_shape(model) for name, model in _encoders(fusion).items()}
    fits = memory.chunk_bytes(shapes, 7, side, dates, dense=False) <= memory.AUTO_SHARE * 200 * 2**20
    assert fits and (side == 24 or memory.chunk_bytes(shapes, 7, side + memory.AUTO_STEP, dates, False)
                     > memory.AUTO_SHARE * 200 * 2**20)
    auto = xr.open_zarr(store, consolidated=False)
    assert auto["embedding"].encoding["chunks"][2:] == (side, side)
    np.testing.assert_allclose(auto["embedding"].values, xr.open_zarr(reference, consolidated=False)["embedding"].values,
                               atol=1e-5, equal_nan=True)


def _encoders(job):
    from cae.embedding.inputs import fusion_of

    fusion = fusion_of(job)
    return {name: checkpoint.model for name, checkpoint in fusion.encoders.items()}


def test_auto_batch_grows_with_a_gpus_free_memory_within_its_range():
    window = 4 * 25 * 25 * 3 * 298
    low, high = memory.BATCH_RANGE
    assert memory.auto_batch_size(2**30, window) == low  # 1 GiB: the CPU's default
    assert memory.auto_batch_size(80 * 2**30, window) > 4 * low  # an H100's free memory: several times more
    assert memory.auto_batch_size(2**50, window) == high
    assert memory.auto_batch_size(1, window) == low


@pytest.mark.parametrize("value", ["0", "-3", "big"])
def test_chunk_takes_a_positive_number_or_auto(value, capsys):
    assert run(["embed", "cube.zarr", "--model", "runs/fusion", "--out", "o.zarr", "--chunk", value]) == 2
    assert "neither a whole number >= 1 nor auto" in capsys.readouterr().err
