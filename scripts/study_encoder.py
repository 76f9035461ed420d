"""Train one S2 encoder variant on the bundled Romania cube and probe what its latent keeps.

One variant per call (the study of issue 19, docs/embedding-quality.md):

    .venv/bin/python scripts/study_encoder.py OUT VARIANT [--steps N]

Prints one JSON line: held-out centre MAE against the patch mean, and how well the latent
of a held-out sample predicts its centre pixel-date (NDVI and each band; boosted trees
fitted on the validation sites' samples, scored on the test sites': no site in both).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from cae.checkpoint import load_encoder
from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.modality import CENTER_DATE, CENTER_PIXEL, LossWeights
from cae.presets import PRESETS, get_preset
from cae.training import load_sources, site_datasets, train_encoder

NO_DROPOUT = {"dropout": 0.0, "spatial_dropout": 0.0}
VARIANTS = {
    "demo": {},
    "nodropout": {"preset": ("tiny", NO_DROPOUT)},
    "balanced": {"balanced": True},
    "balanced-nodropout": {"balanced": True, "preset": ("tiny", NO_DROPOUT)},
    "small-balanced-nodropout": {"balanced": True, "preset": ("small", NO_DROPOUT)},
    "paper-loss": {"loss_weights": LossWeights(mae=0.33, ssim=0.02, sam=0.65, center_weight=1.0)},
}


def balance_bands(sources, config) -> None:
    """Weigh each band's error by mean(std) / its std over the training sites (monkeypatched)."""
    import cae.training as training

    split = training.split_into_sites(sources, config.site_block, config.seed)
    _, stds = training.site_band_statistics(sources, split["train"], "s2")
    scale = (stds.mean() / stds.clamp(min=1e-4))[None, None, :, None, None]
    plain = training.reconstruction_loss

    def balanced(recon, target, mask, weights):
        return plain(recon * scale, target * scale, mask, weights)

    training.reconstruction_loss = balanced


def latents_and_targets(model, dataset, modality: str):
    latents, targets = [], []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=128):
            batch = batch[modality]
            latents.append(model.encode(batch["values"], batch["day_offsets"]))
            targets.append(batch["target"][:, CENTER_DATE, :, CENTER_PIXEL, CENTER_PIXEL])
    return torch.cat(latents).numpy(), torch.cat(targets).numpy()


def probe(train, test, bands):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    (x_train, y_train), (x_test, y_test) = train, test
    red, nir = bands.index("B04"), bands.index("B08")

    def ndvi(y):
        return (y[:, nir] - y[:, red]) / (y[:, nir] + y[:, red])

    targets = {"NDVI": (ndvi(y_train), ndvi(y_test))}
    targets |= {band: (y_train[:, i], y_test[:, i]) for i, band in enumerate(bands)}
    scores = {}
    for name, (fit_y, test_y) in targets.items():
        model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=0).fit(x_train, fit_y)
        scores[name] = round(float(r2_score(test_y, model.predict(x_test))), 4)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    variant = dict(VARIANTS[args.variant])
    changes = {}
    if "preset" in variant:
        base, fields = variant.pop("preset")
        name = f"{base}-{args.variant}"
        PRESETS[name] = replace(get_preset(base), name=name, **fields)
        changes["preset"] = name
    changes |= variant
    started = time.perf_counter()
    run = args.out / args.variant
    result = train_encoder("s2", [demo_cube_path("s2")], run, demo_training_config("s2", max_steps=args.steps, **changes), progress=False)
    seconds = time.perf_counter() - started
    checkpoint = load_encoder(run)
    config = demo_training_config("s2", **changes)
    _, sources = load_sources("s2", [demo_cube_path("s2")], checkpoint.model.preset.halo)  # noqa: F811
    _, _, val, test = site_datasets(sources, config.sampling, config)
    bands = list(checkpoint.metadata["bands"])
    scores = probe(latents_and_targets(checkpoint.model, val, "s2"), latents_and_targets(checkpoint.model, test, "s2"), bands)
    record = {"variant": args.variant, "steps": args.steps, "train_seconds": round(seconds), **result.metadata["test"],
              "best_step": result.metadata["best"]["step"], "latent_r2": scores}
    print(json.dumps(record))
    with open(args.out / "study.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
