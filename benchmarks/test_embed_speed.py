"""Embedding throughput: pixel-dates per second of the naive and fast paths, and their ratios.

Both paths run on the same tile of the real Romania demo cube (6 bands; its cloud-free
pixel-dates with full context) and the same S2 encoder per preset (untrained weights: the
work does not depend on their values). One timed call embeds the tile; inputs are prepared
outside it. The last test reads the rates measured in this run and reports the ratios,
among them the headline one: fast `dense` against the authors' way, naive `paper`.

Run: `pytest benchmarks/test_embed_speed.py --benchmark-only --benchmark-json=embed.json`.
"""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

from cae.cube.io import open_cube
from cae.cube.prepare import prepare_modality
from cae.data import demo_cube_path
from cae.embedding.latents import naive_latents, shared_latents
from cae.plugins import installed_modalities
from cae.sampling import date_band_means, day_numbers, fill_invalid
from gpu import synchronize

PRESETS = ["paper", "dense", "tiny"]
#: The tile: 32 centre dates (a default `cae embed` chunk) plus 5 on each side, and 36 x 36
#: pixels (16 x 16 centres for `dense`, 22 x 22 for the others). A default 64-pixel chunk
#: measured no faster per pixel-date (paper fast 346/s, dense fast 1644/s) and took 15 min.
DATES, SIZE = 42, 36
#: The naive path is far slower: it is timed on the first windows of the same list.
NAIVE_WINDOWS = {("cpu", "tiny"): 1024, ("cpu", "paper"): 48, ("cpu", "dense"): 48}

RATES: dict[tuple[str, str, str], float] = {}


@pytest.fixture(scope="module")
def tile():
    """Filled values (T, C, H, W), day numbers and the valid centres of a real tile."""
    spec = installed_modalities().spec("s2")
    prepared = prepare_modality(open_cube(demo_cube_path("s2")), spec)
    values = prepared.values.isel(time=slice(0, DATES), y=slice(0, SIZE), x=slice(0, SIZE))
    valid = prepared.valid.isel(time=slice(0, DATES), y=slice(0, SIZE), x=slice(0, SIZE))
    filled = fill_invalid(values.values, valid.values, date_band_means(prepared.values, prepared.valid)[:DATES])
    days = day_numbers(prepared.times[:DATES])
    return spec, torch.from_numpy(filled), torch.from_numpy(days), valid.values


def _centres(valid: np.ndarray, reach: int) -> torch.Tensor:
    inner = np.zeros_like(valid)
    inner[5:-5, reach:-reach, reach:-reach] = valid[5:-5, reach:-reach, reach:-reach]
    return torch.from_numpy(np.argwhere(inner))


@pytest.mark.parametrize("path", ["naive", "fast"])
@pytest.mark.parametrize("preset", PRESETS)
def test_embedding_pixel_dates_per_second(benchmark, device, tile, preset, path):
    spec, values, days, valid = tile
    torch.manual_seed(0)
    model = spec.create_model(values.shape[1], preset).to(device).eval()
    centres = _centres(valid, model.input_size // 2).to(device)
    if path == "naive":
        centres = centres[: NAIVE_WINDOWS.get((device.type, preset), 4096)]
    values, days = values.to(device), days.to(device)
    embed = naive_latents if path == "naive" else shared_latents
    batch = 64 if device.type == "cpu" else 4096

    def run() -> None:
        embed(model, values, days, centres, batch)
        synchronize(device)

    benchmark.pedantic(run, rounds=1 if path == "naive" or device.type == "cpu" else 3, warmup_rounds=1)
    rate = len(centres) / benchmark.stats.stats.mean
    RATES[(device.type, preset, path)] = rate
    benchmark.extra_info.update(
        preset=preset, path=path, pixel_dates=len(centres), pixel_dates_per_s=rate,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mib=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    )


def test_speedups_measured_in_this_run(benchmark, device):
    """Ratios of the rates above (same run, same machine): fast vs naive per preset, and
    fast `dense` vs naive `paper` (the authors' way)."""
    rate = lambda preset, path: RATES.get((device.type, preset, path))  # noqa: E731
    if any(rate(preset, path) is None for preset in PRESETS for path in ("naive", "fast")):
        pytest.skip("needs the rate benchmarks of this module in the same run")
    ratios = {f"{preset}_fast_vs_naive": rate(preset, "fast") / rate(preset, "naive") for preset in PRESETS}
    ratios["dense_fast_vs_paper_naive"] = rate("dense", "fast") / rate("paper", "naive")
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update(ratios)
    for name, value in ratios.items():
        print(f"{device.type} {name}: {value:.1f}x")
    assert all(value > 1 for value in ratios.values()), ratios
