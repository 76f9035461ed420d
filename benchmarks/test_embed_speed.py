"""`cae embed` throughput: pixel-dates per second of its naive and fast paths, and their ratios.

`cae embed --naive` runs `naive_latents` (the whole encoder on every window), the default runs
`shared_latents`; both are timed here as the library defines them, on the same tile of the
real Romania demo cube (6 bands; its cloud-free pixel-dates with full context) with the same
S2 encoder per preset (untrained weights: the work does not depend on their values). The
tile holds 32 centre dates, as one default `cae embed` chunk, plus 5 dates on each side.
One timed call embeds the tile; inputs are prepared outside it. The naive path, far slower,
is timed on the first windows of the same list.

Each fast benchmark puts its speed-ups over the naive rates measured earlier in this run in
`extra_info["ratios"]` (the tracker, `benchmarks/track.py`, checks them): fast vs naive per
preset, and fast `dense` vs naive `paper` (the authors' way).

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
from cae.embedding.job import EmbedOptions
from cae.geometry import CENTER_DATE
from cae.model.autoencoder import autoencoder_for
from cae.plugins.manager import installed_modalities
from cae.samples.windows import band_fill_values, day_numbers, fill_invalid
from measure import count_flops, record_throughput, synchronize

PRESETS = ["paper", "dense", "tiny"]
CENTRE_DATES = 32
#: Pixels per side of the tile's centres. Full: a default 64-pixel `cae embed` chunk. Quick:
#: `paper` and `tiny` share work across dates only, so their rate per pixel-date hardly
#: depends on the tile's width; `dense` also shares across overlapping patches, and on a
#: narrow tile its 12-pixel reach on each side would be most of the work.
CENTRE_PIXELS = {"quick": {"paper": 6, "dense": 48, "tiny": 8}, "full": {"paper": 64, "dense": 64, "tiny": 64}}
#: Windows the naive path is timed on (per mode and device). `tiny` is bound by the overhead
#: of each operation, so it gets at least one whole batch, as `cae embed --naive` runs it.
NAIVE_WINDOWS = {
    ("quick", "cpu"): {"paper": 24, "dense": 24, "tiny": 512},
    ("quick", "cuda"): {"paper": 1024, "dense": 1024, "tiny": 8192},
    ("full", "cpu"): {"paper": 96, "dense": 96, "tiny": 4096},
    ("full", "cuda"): {"paper": 8192, "dense": 8192, "tiny": 65536},
}
#: Windows (naive) or frames (fast) per forward pass: `cae embed`'s default on a CPU.
BATCH = {"cpu": EmbedOptions().batch_size, "cuda": 4096}
ROUNDS = 3

#: Pixel-dates per second measured in this run, by (device, dtype, preset, path).
RATES: dict[tuple[str, str, str, str], float] = {}


@pytest.fixture(scope="module")
def prepared():
    """The real Romania S2 cube, prepared as `cae embed` prepares it, and its band fill values."""
    spec = installed_modalities().spec("s2")
    modality = prepare_modality(open_cube(demo_cube_path("s2")), spec)
    return spec, modality, band_fill_values([modality])


def _tile(prepared, reach: int, centre_pixels: int):
    """Filled values (T, C, H, W), day numbers (T,) and the (N, 3) embeddable centres of a tile."""
    _, modality, fill = prepared
    dates, size = CENTRE_DATES + 2 * CENTER_DATE, centre_pixels + 2 * reach
    region = dict(time=slice(0, dates), y=slice(0, size), x=slice(0, size))
    valid = modality.valid.isel(region).values
    filled = fill_invalid(modality.values.isel(region).values, valid, fill)
    inner = np.zeros_like(valid)
    core = (slice(CENTER_DATE, -CENTER_DATE), slice(reach, -reach), slice(reach, -reach))
    inner[core] = valid[core]  # a cloud-free centre with full context, as `cae embed` picks them
    days = day_numbers(modality.times[:dates])
    return torch.from_numpy(filled), torch.from_numpy(days), torch.from_numpy(np.argwhere(inner))


# Naive then fast for each preset in turn, `paper` first: each ratio compares rates measured
# minutes apart at most, and fast `dense` finds naive `paper` already measured.
@pytest.mark.parametrize("path", ["naive", "fast"])
@pytest.mark.parametrize("preset", PRESETS)
def test_embedding_pixel_dates_per_second(benchmark, device, dtype, mode, matmul_rate, prepared, preset, path):
    spec = prepared[0]
    torch.manual_seed(0)
    model = autoencoder_for(spec, prepared[1].values.shape[1], preset).to(device, dtype).eval()
    values, days, centres = _tile(prepared, model.input_size // 2, CENTRE_PIXELS[mode][preset])
    if path == "naive":
        centres = centres[: NAIVE_WINDOWS[(mode, device.type)][preset]]
    values, days, centres = values.to(device, dtype), days.to(device), centres.to(device)
    embed = naive_latents if path == "naive" else shared_latents
    batch = BATCH[device.type]

    def run() -> None:
        embed(model, values, days, centres, batch)
        synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=0)
    # The naive path's FLOPs are the same for every window: a few windows count them.
    counted = centres[:4] if path == "naive" else centres
    flops = count_flops(lambda: embed(model, values, days, counted, batch)) / len(counted)
    rate = record_throughput(benchmark, len(centres), "pixel_dates", flops, matmul_rate)
    key = (device.type, str(dtype), preset)
    RATES[(*key, path)] = rate
    benchmark.extra_info.update(
        preset=preset, path=path,
        process_peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mib=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    )
    if path == "fast":
        ratios = {}
        if (*key, "naive") in RATES:
            ratios[f"{preset}_fast_vs_naive"] = rate / RATES[(*key, "naive")]
        paper_naive = (device.type, str(dtype), "paper", "naive")
        if preset == "dense" and paper_naive in RATES:
            ratios["dense_fast_vs_paper_naive"] = rate / RATES[paper_naive]
        benchmark.extra_info["ratios"] = ratios
        print(" ".join(f"{name} {value:.1f}x" for name, value in ratios.items()), end=" ")
