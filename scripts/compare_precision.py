"""float32 against bfloat16 autocast (`cae embed --precision`) on the real Romania cube.

    .venv/bin/python scripts/compare_precision.py WORK [--device cuda]

Embeds the whole bundled cube twice with the demo model shipped in the package, once per
precision, and prints each run's time, the largest and the median absolute difference of
the embeddings, and the tree cover probe on both (docs/embedding-quality.md has the numbers).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import xarray as xr

from cae.data import demo_cube_path, demo_label_path
from cae.demo import install_shipped_model
from cae.embedding.job import EmbedOptions
from cae.embedding.run import embed
from cae.evaluation.probe import ProbeOptions, run_probe
from cae.evaluation.probe_report import verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="an empty folder for the model and the two stores")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    install_shipped_model(args.work / "runs")
    stores = {}
    for precision in ("float32", "bfloat16"):
        started = time.perf_counter()
        stores[precision], planned = embed([demo_cube_path("s2")], args.work / "runs" / "fusion",
                                           args.work / f"{precision}.zarr", EmbedOptions(device=args.device, precision=precision))
        print(f"{precision}: {planned.centres:,} pixel-dates in {time.perf_counter() - started:.0f} s")
    single, half = (xr.open_zarr(stores[name], consolidated=False)["embedding"].values for name in ("float32", "bfloat16"))
    difference = np.abs(single - half)[~np.isnan(single)]
    print(f"absolute difference: max {difference.max():.4f}, median {np.median(difference):.5f} "
          f"(the embedding's standard deviation: {np.nanstd(single):.3f})")
    for precision, store in stores.items():
        print(precision, verdict(run_probe(store, demo_label_path(), None, ProbeOptions(period="2018", percentiles=True))))


if __name__ == "__main__":
    main()
