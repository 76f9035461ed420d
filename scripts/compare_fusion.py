"""Train fusion over one S2 encoder on the real Romania demo cube, as the fusion study needs it.

    python scripts/compare_fusion.py OUT_DIR ENCODER_DIR [--steps N] [--fusion-preset NAME]

The demo's training settings (`cae.demo.demo_training_config`: lr 3e-3, 50 warm-up steps,
cosine decay to 0 at the last step) for N steps, over the frozen encoder in ENCODER_DIR and
on its split; prints the held-out centre MAE through the 7-d embedding and through the
encoder alone, and the wall time (docs/embedding-quality.md, "Fusion").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.fusion.model import FUSION_PRESETS
from cae.fusion.training import train_fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("encoder", type=Path)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--fusion-preset", choices=sorted(FUSION_PRESETS), default="paper")
    args = parser.parse_args()
    started = time.perf_counter()
    result = train_fusion([demo_cube_path("s2")], args.out, demo_training_config("s2", max_steps=args.steps), runs=None,
                          encoders={"s2": args.encoder}, preset=FUSION_PRESETS[args.fusion_preset], progress=False)
    print(json.dumps({"fusion_preset": args.fusion_preset, "steps": args.steps,
                      "seconds": round(time.perf_counter() - started, 1), "test": result.metadata["test"]}, indent=1))


if __name__ == "__main__":
    main()
