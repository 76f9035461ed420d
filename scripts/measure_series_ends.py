"""How far `cae embed --series-ends` embeddings are from full-context ones, per date position.

    .venv/bin/python scripts/measure_series_ends.py WORK [--model FUSION_RUN] [--side 30]

A crop of the bundled Romania cube (SIDE x SIDE pixels, all dates) is embedded the paper's
way as the reference. Then three 31-date pieces of its series (starting at dates 20, 45, 70)
are embedded with --series-ends: the first and last 5 dates of each piece are series ends
there but have full context in the reference. Prints, overall and per position from the
piece's end (+0 first date .. -1 last date): the mean over features of the correlation, R2
and RMSE relative to the feature's spread, and, for scale, the same RMSE between a pixel's
full-context embeddings on consecutive dates.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path, demo_model_path
from cae.embedding.job import SERIES_END, EmbedOptions
from cae.embedding.run import embed

PIECE_STARTS, PIECE_DATES, END_DATES = (20, 45, 70), 31, 5


def scores(estimated: np.ndarray, reference: np.ndarray, spread: np.ndarray) -> str:
    """Mean over features (rows) of r, R2 and RMSE / spread."""
    r = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(estimated, reference)])
    r2 = np.mean([1 - ((a - b) ** 2).sum() / ((b - b.mean()) ** 2).sum() for a, b in zip(estimated, reference)])
    rmse = np.mean(np.sqrt(((estimated - reference) ** 2).mean(1)) / spread)
    return f"r {r:.4f}, R2 {r2:.4f}, RMSE/spread {rmse:.4f}, {estimated.shape[1]:,} pixel-dates"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--model", type=Path, default=demo_model_path() / "fusion")
    parser.add_argument("--side", type=int, default=30)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=False)
    crop = open_cube(demo_cube_path("s2")).isel(y=slice(40, 40 + args.side), x=slice(0, args.side))
    write_cube(crop, args.work / "crop.zarr")
    options = EmbedOptions(device="cpu", batch_size=512)
    reference_path, _ = embed([args.work / "crop.zarr"], args.model, args.work / "reference.zarr", options)
    reference = xr.open_zarr(reference_path, consolidated=False).embedding
    features = reference.sizes["feature"]
    spread = np.nanstd(reference.values.reshape(features, -1), axis=1)
    times = pd.DatetimeIndex(reference.time.values)
    by_position: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for start in PIECE_STARTS:
        piece = args.work / f"piece_{start}.zarr"
        write_cube(crop.sel(time=slice(times[start], times[start + PIECE_DATES - 1])), piece)
        out, _ = embed([piece], args.model, args.work / f"piece_{start}_ends.zarr", replace(options, series_ends=True))
        ends = xr.open_zarr(out, consolidated=False)
        flags = ends[SERIES_END].values.astype(bool)
        for index, date in enumerate(ends.time.values):
            if flags[index].any():
                pair = (ends.embedding.sel(time=date).values[:, flags[index]],
                        reference.sel(time=date).values[:, flags[index]])
                position = index if index < END_DATES else index - ends.sizes["time"]
                by_position.setdefault(position, []).append(pair)
    pairs = [pair for group in by_position.values() for pair in group]
    print("all series ends:", scores(np.hstack([a for a, _ in pairs]), np.hstack([b for _, b in pairs]), spread))
    for position in sorted(by_position, key=lambda value: (value < 0, value)):
        group = by_position[position]
        print(f"position {position:+d}:", scores(np.hstack([a for a, _ in group]), np.hstack([b for _, b in group]), spread))
    step = reference.values[:, 1:] - reference.values[:, :-1]
    both = np.isfinite(step).all(0)
    print(f"for scale, one date to the next at full context: RMSE/spread "
          f"{np.mean(np.sqrt((step[:, both] ** 2).mean(1)) / spread):.4f}")


if __name__ == "__main__":
    main()
