"""Training throughput of the stage-1 autoencoder: samples per second, per preset.

One timed call = one optimiser step on a batch of 16 Sentinel-2 samples (6 bands, as the
real demo cube), forward, backward and AdamW update; inputs are built outside the timed call.
Run: `pytest benchmarks/test_training_speed.py --benchmark-only`.
"""

from __future__ import annotations

import pytest
import torch

from cae.losses import reconstruction_loss
from cae.plugins import installed_modalities
from gpu import synchronize

BATCH = 16


@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_training_step_samples_per_second(benchmark, device, preset):
    spec = installed_modalities().spec("s2")
    torch.manual_seed(0)
    model = spec.create_model(6, preset).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    values = torch.rand(BATCH, 11, 6, 15, 15, device=device) * 0.4
    mask = torch.rand(BATCH, 11, 15, 15, device=device) > 0.2
    days = (torch.arange(11, device=device) * 12).repeat(BATCH, 1)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            reconstruction, _ = model(values, days)
            loss, _ = reconstruction_loss(reconstruction.float(), values, mask, spec.loss_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)

    rounds = 3 if preset == "paper" and device.type == "cpu" else 10
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=1)
    benchmark.extra_info["samples_per_s"] = BATCH / benchmark.stats.stats.mean
    benchmark.extra_info["preset"] = preset
