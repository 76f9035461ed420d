"""Training throughput of the stage-1 autoencoder: samples per second, per preset.

One timed call = one optimiser step as `cae train` takes it once its loss warm-up is over,
outside Lightning's loop: the modality's full reconstruction loss (MAE, SSIM, SAM) on a batch
of real Sentinel-2 samples of the demo cube (cut by the training sampler, at the method's
batch size), backward, gradient clipping and the AdamW update of the training configuration;
on another dtype than float32 the forward runs under autocast, as Lightning's mixed precision
does. The batch is built outside the timed call.
Run: `pytest benchmarks/test_training_speed.py --benchmark-only`.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.model.autoencoder import autoencoder_for
from cae.model.losses import reconstruction_loss
from cae.model.presets import get_preset
from cae.training.data import load_sources, block_datasets
from cae.training.engine import optimizers_for
from measure import count_flops, record_throughput, synchronize

ROUNDS = {"paper": 3, "dense": 3, "small": 5, "tiny": 10}


@pytest.mark.parametrize("preset", ["paper", "dense", "small", "tiny"])
def test_training_step_samples_per_second(benchmark, device, dtype, matmul_rate, preset):
    config = demo_training_config("s2", preset=preset)
    spec, sources = load_sources("s2", [demo_cube_path("s2")], get_preset(preset).halo)
    _, train, _, _ = block_datasets(sources, config.sampling, config)
    samples = next(iter(DataLoader(train, batch_size=config.batch_size)))["s2"]
    batch = {name: tensor.to(device) for name, tensor in samples.items()}
    torch.manual_seed(0)
    model = autoencoder_for(spec, batch["values"].shape[2], preset).to(device).train()
    optimizer = optimizers_for(model.parameters(), config)[0][0]

    def loss() -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            reconstruction, _ = model(batch["values"], batch["day_offsets"])
            total, _ = reconstruction_loss(reconstruction, batch["target"], batch["mask"], spec.loss_weights)
        return total

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.gradient_clip)
        optimizer.step()
        synchronize(device)

    benchmark.pedantic(step, rounds=ROUNDS[preset], warmup_rounds=1)
    flops = count_flops(lambda: loss().backward()) / config.batch_size
    record_throughput(benchmark, config.batch_size, "samples", flops, matmul_rate)
    benchmark.extra_info["preset"] = preset
