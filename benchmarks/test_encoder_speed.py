"""Encoder forward: windows per second of one modality's whole encoder, per preset and modality.

One timed call = `ContextAutoencoder.encode` on a batch of (11, C, 15, 15) windows (plus the
halo of an unpadded first block), C = the modality's full band list, without gradients: the
per-window work of `cae embed --naive`. Inputs are built outside the timed call.
Run: `pytest benchmarks/test_encoder_speed.py --benchmark-only`.
"""

from __future__ import annotations

import pytest
import torch

from cae.geometry import N_DATES
from cae.plugins.manager import installed_modalities
from cae.model.autoencoder import autoencoder_for
from cae.model.presets import PRESETS
from measure import count_flops, record_throughput, synchronize

#: The bundled sensors (a third-party plugin's model need not be a context autoencoder).
MODALITIES = ["s1", "s2"]
#: Windows per timed call: `paper` and `dense` cost ~7 GFLOP a window, `small` ~0.7, `tiny` ~0.02.
WINDOWS = {
    ("quick", "cpu"): {"paper": 8, "dense": 8, "small": 32, "tiny": 256},
    ("quick", "cuda"): {"paper": 256, "dense": 256, "small": 1024, "tiny": 8192},
    ("full", "cpu"): {"paper": 32, "dense": 32, "small": 256, "tiny": 4096},
    ("full", "cuda"): {"paper": 1024, "dense": 1024, "small": 8192, "tiny": 65536},
}
ROUNDS = 3


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("modality", MODALITIES)
def test_encoder_windows_per_second(benchmark, device, dtype, mode, matmul_rate, modality, preset):
    spec = installed_modalities().spec(modality)
    torch.manual_seed(0)
    model = autoencoder_for(spec, len(spec.bands), preset).to(device, dtype).eval()
    windows = WINDOWS[(mode, device.type)][preset]
    size = model.input_size
    patches = torch.rand(windows, N_DATES, len(spec.bands), size, size, device=device, dtype=dtype)
    days = (torch.arange(N_DATES, device=device) * 12).repeat(windows, 1)

    @torch.no_grad()
    def run() -> None:
        model.encode(patches, days)
        synchronize(device)

    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    flops = count_flops(lambda: model.encode(patches[:2], days[:2])) / 2
    record_throughput(benchmark, windows, "windows", flops, matmul_rate)
    benchmark.extra_info.update(modality=modality, preset=preset, bands=len(spec.bands))
