"""Train one S2 preset on the real Romania demo cube with the settings of the dense-vs-paper comparison.

    python scripts/compare_presets.py OUT_DIR PRESET [--steps N]

Issue 5 asks for `dense` next to `paper` with the same losses, data and steps. Each call
trains one preset (so two can run side by side, one per core) with the demo's sampling and
loss, a learning rate of 1e-3 after 20 warm-up steps, and writes OUT_DIR/PRESET, whose
`encoder.json` holds the validation curve and the held-out test scores (centre MAE against
the patch-mean baseline).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.training.encoder import train_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("preset")
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    config = demo_training_config(
        "s2", max_steps=args.steps, preset=args.preset, learning_rate=1e-3, warmup_steps=20,
        validation_spacing=16, test_spacing=8, device="cpu",
    )
    result = train_encoder("s2", [demo_cube_path("s2")], args.out / args.preset, config, progress=False)
    metadata = result.metadata
    print(json.dumps({"preset": args.preset, "best": metadata["best"], "test": metadata.get("test")}, indent=1))


if __name__ == "__main__":
    main()
