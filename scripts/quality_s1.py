"""The demo's recipe as it stood before 2026-12-05's change (encoder 1,500 steps, the paper's
fusion for a third of them) on the real Poland Sentinel-1 VH cube: encoder, fusion,
embedding, probe. Kept as it was measured; the S2 demo now trains longer and fuses without
dropout (`cae.demo`).

    .venv/bin/python scripts/quality_s1.py OUT [--steps 1500]

There is no label for the Poland square, so only the reconstruction (held-out centre MAE
against the patch mean) and the temporal probe (each pixel-date's VH from its own
embedding) are measured; numbers in docs/embedding-quality.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.evaluation.probe import ProbeOptions
from cae.evaluation.probe_report import probe_markdown, probe_document
from cae.evaluation.temporal_probe import run_temporal_probe
from cae.fusion.training import train_fusion
from cae.training.encoder import train_encoder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    cube, runs = demo_cube_path("s1"), args.out / "runs"
    started = time.perf_counter()
    encoder = train_encoder("s1", [cube], runs / "s1", demo_training_config("s1", max_steps=args.steps), progress=False)
    fusion = train_fusion([cube], runs / "fusion", demo_training_config("s1", max_steps=args.steps // 3), runs=runs,
                          progress=False)
    store, _ = embed([cube], runs / "fusion", args.out / "poland_embedding.zarr", EmbedOptions())
    seconds = time.perf_counter() - started
    temporal = run_temporal_probe(store, None, ProbeOptions())
    print(f"S1 encoder, held-out: {encoder.metadata['test']}")
    print(f"through fusion: {fusion.metadata['test']}")
    print(f"train + fuse + embed: {seconds:.0f} s")
    print(probe_markdown(probe_document(None, temporal)))


if __name__ == "__main__":
    main()
