"""Train the model `cae demo` ships with, and record its recipe, scores and time beside it.

    .venv/bin/python scripts/train_demo_model.py WORK [--steps 3000]

The demo's recipe (`cae.demo.demo_training_config`: tiny preset, MAE only, lr 3e-3, cosine
decay over a fixed run) on the bundled Romania S2 cube: the S2 encoder, fusion over it, the
whole cube embedded and probed on the bundled tree cover density 2018. Training runs in WORK;
the weights and their descriptions are then copied into the package
(`core/data/demo/model/`, read by `cae.demo.install_shipped_model`), with RECIPE.md and
scores.json. Rerun it whenever the checkpoint format or the recipe changes; the suite checks
that the shipped model loads and still scores what RECIPE.md says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch

from cae.data import demo_cube_path, demo_label_path, demo_model_path
from cae.demo import DEMO_STEPS, SHIPPED_FILES, demo_training_config, fused_or_fuse
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.evaluation.probe import ProbeOptions, run_probe
from cae.evaluation.probe_report import probe_document, probe_markdown, verdict
from cae.evaluation.temporal_probe import run_temporal_probe
from cae.training.encoder import train_encoder


def timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="an empty folder for the training runs and the embedding")
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help="encoder steps (fusion trains half as many)")
    args = parser.parse_args()
    cube, runs = demo_cube_path("s2"), args.work / "runs"
    encoder_config = demo_training_config("s2", max_steps=args.steps)
    encoder, encoder_seconds = timed(lambda: train_encoder("s2", [cube], runs / "s2", encoder_config, progress=False))
    (fusion, _), fusion_seconds = timed(lambda: fused_or_fuse(cube, runs, encoder_steps=args.steps))
    (store, planned), embed_seconds = timed(
        lambda: embed([cube], runs / "fusion", args.work / "romania_embedding.zarr", EmbedOptions()))
    options = ProbeOptions(period="2018", percentiles=True)
    label = run_probe(store, demo_label_path(), None, options)
    temporal = run_temporal_probe(store, None, options)

    target = demo_model_path()
    shutil.rmtree(target, ignore_errors=True)
    for folder, names in SHIPPED_FILES.items():
        (target / folder).mkdir(parents=True)
        for name in names:
            shutil.copy2(runs / folder / name, target / folder / name)
    scores = {
        "encoder_test": encoder.metadata["test"],
        "fusion_test": fusion.metadata["test"],
        "tree_cover_probe": verdict(label),
        "probe": probe_document(label, temporal),
    }
    (target / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    test = encoder.metadata["test"]
    (target / "RECIPE.md").write_text(f"""# The demo's shipped model

Produced by `.venv/bin/python scripts/train_demo_model.py WORK --steps {args.steps}` on
{time.strftime('%Y-%m-%d')} ({machine}; {os.cpu_count()} CPUs).
`cae demo` uses it; `cae demo --train` trains the same recipe from scratch.

## Recipe
- Data: the bundled Romania Sentinel-2 cube (`core/data/demo/romania_s2.zarr`, 1 km2, 140 dates).
- S2 encoder: {json.dumps(encoder_config.to_dict())}
- Fusion over the frozen S2 encoder: the same settings with max_steps={fusion.metadata["training"]["max_steps"]}, fusion preset
  {json.dumps(fusion.metadata["fusion_preset"])}.

## Time
- S2 encoder: {encoder_seconds / 60:.1f} min; fusion: {fusion_seconds / 60:.1f} min;
  embedding the cube ({planned.centres:,} pixel-dates): {embed_seconds / 60:.1f} min.

## Scores (held-out sites; scores.json has every number)
- S2 held-out centre MAE {test['center_mae']:.4f} (each patch's mean: {test['patch_mean_center_mae']:.4f},
  {test['samples']} samples).
- Through the 7-d fused embedding: {json.dumps(fusion.metadata['test'])}.

{probe_markdown(probe_document(label, temporal))}
""")
    print((target / "RECIPE.md").read_text())


if __name__ == "__main__":
    main()
