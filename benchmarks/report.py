"""Markdown tables of a pytest-benchmark JSON run: the numbers of `benchmarks/RESULTS.md`.

One row per benchmark: throughput (from the fastest round), FLOPs per item as torch counted
them, the FLOP rate as a fraction of the machine's measured matmul rate, the ratios, and the
peak memory where the benchmark records it (the embedding benchmark: the GPU's peak allocation
during the call, or on a CPU the process's peak resident set so far, an upper bound, since the
benchmarks share one process).

    python benchmarks/report.py RUN.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: The unit each benchmark counts, and the columns that describe what it ran.
UNITS = ("pixel_dates", "windows", "samples")
DESCRIBE = ("modality", "preset", "path")


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _peak_memory(info: dict) -> str:
    peak = info.get("peak_gpu_mib") or info.get("process_peak_rss_mib")
    return "" if peak is None else f"{peak:,.0f}"


def rows(run: dict) -> list[str]:
    lines = []
    for benchmark in run["benchmarks"]:
        info = benchmark["extra_info"]
        unit = next(unit for unit in UNITS if f"{unit}_per_s" in info)
        flops = info[f"flops_per_{unit.removesuffix('s')}"]
        ratios = ", ".join(f"{name} {value:.1f}x" for name, value in info.get("ratios", {}).items())
        what = " ".join(str(info[key]) for key in DESCRIBE if key in info)
        lines.append(
            f"| {benchmark['name'].split('[')[0]} | {info['device']} {info['dtype']} | {what} "
            f"| {_number(info[f'{unit}_per_s'])} {unit.replace('_', '-')}/s | {flops / 1e6:,.2f} "
            f"| {info['fraction_of_matmul_rate']:.3f} | {ratios} | {_peak_memory(info)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    run = json.loads(parser.parse_args().run.read_text())
    cae = run["machine_info"]["cae"]
    rates = ", ".join(f"{key} {value / 1e9:,.1f} GFLOP/s" for key, value in cae["matmul_flops_per_s"].items())
    print(f"{run['machine_info']['cpu'].get('brand_raw')}, {cae['cpu_count']} CPUs, torch {cae['torch']} "
          f"({cae['torch_threads']} threads), GPU: {cae['gpu']['name'] if cae['gpu'] else 'none'}; "
          f"{cae['mode']} mode; measured matmul rate: {rates}; {run['datetime']}\n")
    print("| benchmark | device | what | throughput | MFLOP per item | of matmul rate | ratios | peak memory (MiB) |")
    print("|---|---|---|---:|---:|---:|---|---:|")
    print("\n".join(rows(run)))


if __name__ == "__main__":
    main()
