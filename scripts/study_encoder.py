"""One variant of the S2 encoder study (docs/embedding-quality.md) on the bundled Romania cube.

    .venv/bin/python scripts/study_encoder.py VARIANT [--steps 1000] [--threads 1]

VARIANT joins parts with "+": `paperpath` (no centre path: the paper's architecture),
`nodrop` (no dropout), `cosine` (cosine learning-rate decay), `wide` (twice the tiny
widths), `lr1e-3`, `balanced` (each band's error weighted by 1 / its spread), `bnfreeze`
(the latent's batch normalisation frozen after 100 steps), `nobn` (none), or a preset name
(`tiny`, `small`, `dense`, `paper`); `base` alone is the tiny preset as it is. Training is a
plain loop (the demo's data, sites, seed, batch 16, lr 3e-3, MAE alone, 50 warm-up steps),
so variants differ in nothing else. Prints one JSON line: held-out centre MAE (validation
and test sites) against the patch mean, and the R2 with which boosted trees, fitted on the
validation sites' latents, predict the test sites' centre NDVI and bands.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader

from cae.model.autoencoder import ContextAutoencoder
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.evaluation.indices import NIR_BAND, RED_BAND, ndvi
from cae.model.losses import reconstruction_loss
from cae.geometry import CENTER_DATE, CENTER_PIXEL
from cae.plugins.contract import LossWeights
from cae.model.presets import PRESETS, get_preset
from cae.training.baselines import center_baselines
from cae.training.data import load_sources, block_band_statistics, block_datasets

WIDE = {"stem_channels": 16, "block2_channels": 16, "block3_channels": 16, "token_channels": 8, "head_channels": 16,
        "reduced_token_dim": 16}


def parse(variant: str) -> dict:
    settings = {"preset": "tiny", "changes": {}, "lr": 3e-3, "cosine": False, "balanced": False, "bnfreeze": None,
                "nobn": False}
    for part in variant.split("+"):
        if part == "paperpath":
            settings["changes"]["centre_path"] = False
        elif part == "nodrop":
            settings["changes"] |= {"dropout": 0.0, "spatial_dropout": 0.0}
        elif part == "wide":
            settings["changes"] |= WIDE
        elif part in PRESETS:
            settings["preset"] = part
        elif part.startswith("lr"):
            settings["lr"] = float(part[2:])
        elif part in ("cosine", "balanced", "nobn"):
            settings[part] = True
        elif part == "bnfreeze":
            settings["bnfreeze"] = 100
        elif part != "base":
            raise SystemExit(f"unknown variant part {part!r}")
    return settings


def latents_and_targets(model, dataset):
    latents, targets = [], []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=128):
            batch = batch["s2"]
            latents.append(model.encode(batch["values"], batch["day_offsets"]))
            targets.append(batch["target"][:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL])
    return torch.cat(latents).numpy(), torch.cat(targets).numpy()


def latent_probe(train, test, bands: list[str]) -> dict[str, float]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    (x_train, y_train), (x_test, y_test) = train, test
    red, nir = bands.index(RED_BAND), bands.index(NIR_BAND)
    targets = {"NDVI": (ndvi(y_train[:, red], y_train[:, nir]), ndvi(y_test[:, red], y_test[:, nir]))}
    targets |= {band: (y_train[:, i], y_test[:, i]) for i, band in enumerate(bands)}
    scores = {}
    for name, (fit_y, test_y) in targets.items():
        model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=0).fit(x_train, fit_y)
        scores[name] = round(float(r2_score(test_y, model.predict(x_test))), 4)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    settings = parse(args.variant)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    config = demo_training_config("s2")
    preset = replace(get_preset(settings["preset"]), **settings["changes"])
    _, sources = load_sources("s2", [demo_cube_path("s2")], preset.halo)
    split, train, val, test = block_datasets(sources, config.sampling, config)
    means, stds = block_band_statistics(sources, split["train"], "s2")
    bands = list(next(iter(sources.values())).prepared["s2"].bands)
    model = ContextAutoencoder(len(bands), 9, 6, preset)
    model.initialise_from_data(means, stds)
    if settings["nobn"]:
        model.to_latent[1] = torch.nn.Identity()
    scale = (stds.mean() / stds.clamp(min=1e-4))[None, None, :, None, None] if settings["balanced"] else 1.0
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=1.5e-4)

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / 50)
        return warm * 0.5 * (1 + math.cos(math.pi * min(step / args.steps, 1))) if settings["cosine"] else warm

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    step, epoch, started = 0, 0, time.perf_counter()
    model.train()
    while step < args.steps:
        train.set_epoch(epoch)
        loader = DataLoader(train, batch_size=16, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(epoch))
        for batch in loader:
            batch = batch["s2"]
            reconstruction, _ = model(batch["values"], batch["day_offsets"])
            loss, _ = reconstruction_loss(reconstruction * scale, batch["target"] * scale, batch["mask"], LossWeights(mae=1.0))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            if step == settings["bnfreeze"]:
                model.to_latent[1].eval()
            if step >= args.steps:
                break
        epoch += 1
    seconds = time.perf_counter() - started
    model.eval()
    validation = center_baselines(model, "s2", val, torch.device("cpu"))
    held_out = center_baselines(model, "s2", test, torch.device("cpu"))
    record = {
        "variant": args.variant, "steps": args.steps, "seconds": round(seconds),
        "val": round(validation["center_mae"], 4), "test": round(held_out["center_mae"], 4),
        "test_patch_mean": round(held_out["patch_mean_center_mae"], 4),
        "latent_r2": latent_probe(latents_and_targets(model, val), latents_and_targets(model, test), bands),
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
