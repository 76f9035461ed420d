"""`cae embed` on a crop of the real Romania demo cube: fast == naive, resume, dask, georeference.

The models are trained for a handful of steps only: these tests are about the embedding
machinery (every output value, the store, resuming), not about the models' quality.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
import xarray as xr

from cae.cli.app import run
from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.embedding import store
from cae.embedding.latents import naive_latents, shared_latents
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.errors import InputError
from cae.fusion.training import train_fusion
from cae.model.presets import PRESETS
from cae.training.encoder import train_encoder

#: Small chunks, so that a crop of the demo cube spans many of them (and their halos).
OPTIONS = EmbedOptions(device="cpu", chunk=16, chunk_dates=12, batch_size=256)


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    """40 dates x 48 x 40 pixels of the real Romania S2 cube."""
    path = tmp_path_factory.mktemp("cube") / "romania_crop.zarr"
    write_cube(open_cube(demo_cube_path("s2")).isel(time=slice(0, 40), y=slice(0, 48), x=slice(0, 40)), path)
    return path


def _fusion_run(root, preset: str):
    cube = demo_cube_path("s2")
    train_encoder("s2", [cube], root / "s2", demo_training_config("s2", max_steps=10, preset=preset), progress=False)
    train_fusion([cube], root / "fusion", demo_training_config("s2", max_steps=5), runs=root, progress=False)
    return root / "fusion"


@pytest.fixture(scope="module")
def padded_model(tmp_path_factory):
    return _fusion_run(tmp_path_factory.mktemp("padded"), "tiny")


@pytest.fixture(scope="module")
def dense_model(tmp_path_factory):
    """A tiny model with the `dense` frame encoder: fully convolutional, 25 x 25 inputs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, "tiny-dense", dataclasses.replace(PRESETS["tiny"], name="tiny-dense", frame_encoder="dense"))
        return _fusion_run(tmp_path_factory.mktemp("dense"), "tiny-dense")


def test_shared_latents_equal_the_per_window_encoder_for_both_structures():
    """Both frame encoders, with and without the centre path (the paper's architecture), at
    centres on every date: the first and last 5 too (--series-ends: windows repeat the end date)."""
    from cae.model.autoencoder import ContextAutoencoder

    generator = torch.Generator().manual_seed(0)
    values = torch.rand(20, 6, 40, 40, generator=generator)  # the same inputs whatever ran before
    days = torch.cumsum(torch.randint(1, 10, (20,), generator=generator), 0)
    for frame_encoder, centre_path in (("strided", True), ("dense", True), ("strided", False), ("dense", False)):
        torch.manual_seed(0)
        preset = dataclasses.replace(PRESETS["tiny"], frame_encoder=frame_encoder, centre_path=centre_path)
        model = ContextAutoencoder(6, 9, 6, preset).eval()
        model.initialise_from_data(torch.rand(6) * 0.3 + 0.05, torch.rand(6) * 0.1 + 0.01)
        reach = model.input_size // 2
        centres = torch.stack(
            [torch.randint(0, 20, (400,), generator=generator),
             torch.randint(reach, 40 - reach, (400,), generator=generator),
             torch.randint(reach, 40 - reach, (400,), generator=generator)], dim=1,
        )
        torch.testing.assert_close(
            shared_latents(model, values, days, centres, 64), naive_latents(model, values, days, centres, 64),
            atol=1e-5, rtol=1e-4,
        )


@pytest.mark.slow
@pytest.mark.parametrize("model_fixture", ["padded_model", "dense_model"])
def test_fast_path_equals_the_naive_reference_on_every_output(crop, model_fixture, request, tmp_path):
    model = request.getfixturevalue(model_fixture)
    fast, plan = embed([crop], model, tmp_path / "fast.zarr", OPTIONS)
    naive, _ = embed([crop], model, tmp_path / "naive.zarr", dataclasses.replace(OPTIONS, naive=True))
    fast, naive = xr.open_zarr(fast, consolidated=False), xr.open_zarr(naive, consolidated=False)
    embedded = fast.embedding.notnull().all(dim="feature")
    assert int(embedded.sum()) == plan.centres > 5000
    np.testing.assert_array_equal(embedded, naive.embedding.notnull().all(dim="feature"))
    np.testing.assert_allclose(fast.embedding.values, naive.embedding.values, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(fast.contributors.values, naive.contributors.values)


def test_a_pixels_embedding_depends_on_its_window_alone(crop, padded_model, tmp_path):
    """Embedded from the whole crop, from a smaller crop holding its window, or with every
    value beyond its window scaled, a pixel-date gets the same embedding: tiles meet without
    seams. Pixel (row 20, col 20) on the store's date 20: its window is rows and columns
    13..27 and the store's dates 15..25 (cloudy dates of the cube are not on its time axis)."""
    whole, _ = embed([crop], padded_model, tmp_path / "whole.zarr", OPTIONS)
    whole = xr.open_zarr(whole, consolidated=False)
    cube = open_cube(crop).load()
    write_cube(cube.isel(y=slice(10, 32), x=slice(6, 30)), tmp_path / "small.zarr")
    small, _ = embed([tmp_path / "small.zarr"], padded_model, tmp_path / "small_e.zarr", OPTIONS)
    in_window = cube.time.isin(whole.time.values[15:26]) & cube.y.isin(cube.y[13:28]) & cube.x.isin(cube.x[13:28])
    changed = cube.copy()
    for band in ("B02", "B03", "B04", "B08", "B8A", "B11"):
        changed[band] = cube[band].where(in_window, cube[band] * 1.5)
    write_cube(changed.isel(y=slice(10, 32), x=slice(6, 30)), tmp_path / "changed.zarr")
    scaled, _ = embed([tmp_path / "changed.zarr"], padded_model, tmp_path / "changed_e.zarr", OPTIONS)
    reference = whole.embedding.isel(time=20, y=20, x=20).values
    assert np.isfinite(reference).all()
    in_small = xr.open_zarr(small, consolidated=False).embedding.isel(time=20, y=10, x=14).values
    in_scaled = xr.open_zarr(scaled, consolidated=False).embedding.isel(time=20, y=10, x=14).values
    np.testing.assert_allclose(in_small, reference, atol=1e-6, rtol=0)
    np.testing.assert_allclose(in_scaled, reference, atol=1e-6, rtol=0)
    # The scaling does reach the pixel-dates whose windows leave the unscaled one.
    beyond = xr.open_zarr(scaled, consolidated=False).embedding.isel(time=20, y=10, x=8).values
    unscaled = whole.embedding.isel(time=20, y=20, x=14).values
    assert np.isfinite(beyond).all() and np.isfinite(unscaled).all()
    assert not np.allclose(beyond, unscaled, atol=1e-3)


@pytest.mark.slow
def test_the_store_describes_itself_and_only_full_context_valid_pixel_dates_are_embedded(crop, padded_model, tmp_path):
    out, plan = embed([crop], padded_model, tmp_path / "e.zarr", OPTIONS)
    result = xr.open_zarr(out, consolidated=False, decode_coords="all")
    cube = open_cube(crop)
    assert result.embedding.dims == ("feature", "time", "y", "x") and result.embedding.dtype == np.float32
    assert result.sizes["feature"] == 7
    np.testing.assert_array_equal(result.x, cube.x)
    np.testing.assert_array_equal(result.y, cube.y)
    assert result.rio.crs == cube.rio.crs
    embedded = result.embedding.notnull().all("feature").values
    # No embedding within 7 pixels of an edge or 5 dates of either end.
    assert not embedded[:5].any() and not embedded[-5:].any()
    assert not embedded[:, :7].any() and not embedded[:, -7:].any() and not embedded[:, :, :7].any()
    assert (embedded == (result.contributors.values == 1)).all()  # bit 0: s2, the only modality
    assert result.contributors.attrs["flag_meanings"] == "s2"
    assert result.attrs["models"]["encoders"]["s2"]["weights_sha256"]
    assert len(result.attrs[store.RUN_ATTR]["input_fingerprint"]) == 64
    # A GeoTIFF of one date opens in GDAL with the cube's georeference.
    import rasterio
    from pyproj import CRS

    from cae.cube.grid import crs_label

    tif = tmp_path / "date.tif"
    result.embedding.isel(time=20).rio.to_raster(tif)
    with rasterio.open(tif) as raster:
        assert raster.count == 7 and crs_label(CRS(raster.crs.to_wkt())) == crs_label(CRS(cube.rio.crs.to_wkt())) == "EPSG:3035"
        assert raster.transform == cube.rio.transform()


@pytest.mark.slow
def test_the_int8_copy_dequantises_to_within_half_a_step_and_marks_the_same_gaps(crop, padded_model, tmp_path):
    out, _ = embed([crop], padded_model, tmp_path / "e.zarr", dataclasses.replace(OPTIONS, int8=True))
    result = xr.open_zarr(out, consolidated=False)
    raw = xr.open_zarr(out, consolidated=False, mask_and_scale=False)
    assert raw[store.INT8].dtype == np.int8 and raw[store.INT8].dims == result.embedding.dims
    codes = raw[store.INT8].values
    exact = result.embedding.values
    np.testing.assert_array_equal(codes == store.INT8_MISSING, np.isnan(exact))
    scale = result[store.INT8_SCALE].values[:, None, None, None]
    embedded = ~np.isnan(exact)
    assert embedded.sum() > 5000 and codes[embedded].min() == -127 and codes[embedded].max() == 127
    error = np.abs(store.dequantised(result).values - exact)  # NaN where there is no embedding
    assert (np.nan_to_num(error) <= scale / 2 + 1e-6).all()
    assert np.nanmax(error) > 0  # a quantisation, not a copy


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_identical_store(crop, padded_model, tmp_path):
    reference, _ = embed([crop], padded_model, tmp_path / "reference.zarr", OPTIONS)
    out = tmp_path / "resumed.zarr"

    def kill_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed([crop], padded_model, out, OPTIONS, progress=kill_after_three)
    partial = store.partial_path(out)
    assert not out.exists() and len(store.finished_chunks(partial)) == 3
    # A chunk torn by the kill (data written, no marker) is redone on resume.
    import zarr

    zarr.open_group(partial, mode="r+")["embedding"][:, 12:24, 16:32, 16:32] = 123.0
    embed([crop], padded_model, out, OPTIONS)
    assert not partial.exists()
    resumed, expected = xr.open_zarr(out, consolidated=False), xr.open_zarr(reference, consolidated=False)
    np.testing.assert_array_equal(resumed.embedding.values, expected.embedding.values)
    np.testing.assert_array_equal(resumed.contributors.values, expected.contributors.values)


@pytest.mark.slow
def test_a_partial_store_of_another_run_or_an_existing_output_is_refused(crop, padded_model, tmp_path):
    out = tmp_path / "e.zarr"
    with pytest.raises(KeyboardInterrupt):
        embed([crop], padded_model, out, OPTIONS, progress=lambda done, total: (_ for _ in ()).throw(KeyboardInterrupt) if done == 1 else None)
    with pytest.raises(InputError, match="another run"):
        embed([crop], padded_model, out, dataclasses.replace(OPTIONS, chunk=20))
    shutil.rmtree(store.partial_path(out))
    embed([crop], padded_model, out, OPTIONS)
    with pytest.raises(InputError, match="--overwrite"):
        embed([crop], padded_model, out, OPTIONS)


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_identical_store(crop, padded_model, tmp_path):
    from distributed import LocalCluster

    reference, _ = embed([crop], padded_model, tmp_path / "reference.zarr", OPTIONS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out, _ = embed([crop], padded_model, tmp_path / "dask.zarr", dataclasses.replace(OPTIONS, scheduler=cluster.scheduler_address))
    on_cluster, expected = xr.open_zarr(out, consolidated=False), xr.open_zarr(reference, consolidated=False)
    # Worker processes run torch with one thread, this one with several: the kernels may sum
    # in another order, so values agree to float32 rounding; which pixel-dates exist, exactly.
    np.testing.assert_array_equal(np.isnan(on_cluster.embedding.values), np.isnan(expected.embedding.values))
    np.testing.assert_allclose(on_cluster.embedding.values, expected.embedding.values, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(on_cluster.contributors.values, expected.contributors.values)


@pytest.mark.slow
def test_cli_dry_run_reports_the_job_and_writes_nothing(crop, padded_model, tmp_path, capsys):
    out = tmp_path / "e.zarr"
    code = run(["embed", str(crop), "--model", str(padded_model), "--out", str(out), "--dry-run", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "48 x 40 pixels x 33 dates" in printed and "pixel-dates to embed" in printed and "estimated time" in printed
    assert not out.exists() and not store.partial_path(out).exists()
    code = run(["embed", str(crop), "--model", str(padded_model), "--out", str(out), "--device", "cpu", "--chunk", "24"])
    assert code == 0 and out.exists()
    assert run(["embed", str(crop), "--model", str(padded_model), "--out", str(out)]) == 2


def test_bfloat16_autocast_agrees_with_float32_and_is_recorded(crop, padded_model, tmp_path):
    """--precision bfloat16 (autocast, the GPU path) run on the CPU: close to float32, not equal."""
    stores = {}
    for precision in ("float32", "bfloat16"):
        options = dataclasses.replace(OPTIONS, precision=precision)
        stores[precision], _ = embed([crop], padded_model, tmp_path / f"{precision}.zarr", options)
    single, half = (xr.open_zarr(stores[name], consolidated=False) for name in ("float32", "bfloat16"))
    assert half["embedding"].dtype == np.float32 and half.attrs["cae_embed_run"]["precision"] == "bfloat16"
    a, b = single["embedding"].values, half["embedding"].values
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    difference = np.abs(a - b)[~np.isnan(a)]
    spread = np.nanstd(a)
    assert 0 < np.median(difference) < 0.02 * spread and difference.max() < 0.25 * spread
