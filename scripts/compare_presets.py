"""Train one S2 preset on the real Romania demo cube, as a preset comparison needs it.

    python scripts/compare_presets.py OUT_DIR PRESET [--steps N] [--recipe demo|issue5]

Each call trains one preset (so two can run side by side, one per core) and writes
OUT_DIR/PRESET, whose `encoder.json` holds the validation curve and the held-out test scores
(centre MAE against the patch-mean baseline); the scores and the wall time are printed.

- `--recipe demo` (the default; issue 19's per-preset table): exactly the demo's recipe
  (`cae.demo.demo_training_config`: MAE alone, lr 3e-3, 50 warm-up steps, cosine decay to 0
  at the last step, the latent's batch norm frozen after the warm-up), the preset changed.
- `--recipe issue5`: the dense-vs-paper comparison of issue 5 (lr 1e-3 after 20 warm-up
  steps, validation and test windows sampled more sparsely).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cae.data import demo_cube_path
from cae.demo import demo_training_config
from cae.training.encoder import train_encoder

RECIPES = {
    "demo": {},
    "issue5": dict(learning_rate=1e-3, warmup_steps=20, validation_spacing=16, test_spacing=8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("preset")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="demo")
    args = parser.parse_args()
    config = demo_training_config("s2", max_steps=args.steps, preset=args.preset, device="cpu",
                                  **RECIPES[args.recipe])
    started = time.perf_counter()
    result = train_encoder("s2", [demo_cube_path("s2")], args.out / args.preset, config, progress=False)
    metadata = result.metadata
    print(json.dumps({"preset": args.preset, "recipe": args.recipe, "steps": args.steps,
                      "seconds": round(time.perf_counter() - started, 1),
                      "best": metadata["best"], "test": metadata.get("test")}, indent=1))


if __name__ == "__main__":
    main()
