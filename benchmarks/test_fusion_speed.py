"""Fusion forward: samples per second of the fusion transformer, as `cae embed` runs it.

One timed call = `FusionModel.embed` (latents of every bundled modality, all present, ->
the 7-d embedding) on one batch, without gradients; inputs are built outside the timed call.
Run: `pytest benchmarks/test_fusion_speed.py --benchmark-only`.
"""

from __future__ import annotations

import torch

from cae.fusion.model import FusionModel
from cae.plugins.manager import installed_modalities
from measure import count_flops, record_throughput, synchronize

MODALITIES = ["s1", "s2"]
SAMPLES = {("quick", "cpu"): 4096, ("quick", "cuda"): 65536, ("full", "cpu"): 65536, ("full", "cuda"): 1_048_576}
ROUNDS = 10


def test_fusion_samples_per_second(benchmark, device, dtype, mode, matmul_rate):
    registry = installed_modalities()
    torch.manual_seed(0)
    model = FusionModel({name: registry.spec(name).latent_dim for name in MODALITIES}).to(device, dtype).eval()
    samples = SAMPLES[(mode, device.type)]
    latents = {name: torch.rand(samples, registry.spec(name).latent_dim, device=device, dtype=dtype) for name in MODALITIES}
    gaps = {name: torch.randint(0, 12, (samples,), device=device).to(dtype) for name in MODALITIES}
    present = {name: torch.ones(samples, dtype=torch.bool, device=device) for name in MODALITIES}

    @torch.no_grad()
    def run() -> None:
        model.embed(latents, gaps, present)
        synchronize(device)

    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    first = [{name: tensor[:64] for name, tensor in inputs.items()} for inputs in (latents, gaps, present)]
    flops = count_flops(lambda: model.embed(*first)) / 64
    record_throughput(benchmark, samples, "samples", flops, matmul_rate)
