"""Check a pytest-benchmark JSON run: the speed-ups it measured, against floors and a baseline.

Absolute times differ between machines, so only ratios measured within one run are checked
(the `ratios` in each benchmark's `extra_info`, named by device and dtype, e.g.
`cpu/float32/dense_fast_vs_naive`). A run fails when a ratio of `tracking.toml` is below its
floor or missing, or when a ratio of the stored baseline run has fallen by more than the
stated margin. Exit status: 0 passed, 1 a check failed, 2 the inputs cannot be compared.

    python benchmarks/track.py RUN.json [--config benchmarks/tracking.toml]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("tracking.toml")


def ratios(run: dict) -> dict[str, float]:
    """Every ratio the run recorded, as {"device/dtype/name": value}."""
    found = {}
    for benchmark in run["benchmarks"]:
        info = benchmark["extra_info"]
        for name, value in info.get("ratios", {}).items():
            found[f"{info['device']}/{info['dtype']}/{name}"] = value
    return found


def _mode(run: dict) -> str | None:
    return run["machine_info"].get("cae", {}).get("mode")


def check(run: dict, floors: dict[str, float], baseline: dict | None, margin: float) -> tuple[list[str], list[str]]:
    """(one report line per ratio, the failures): floors first, then the baseline's ratios."""
    current = ratios(run)
    before = ratios(baseline) if baseline is not None else {}
    lines, failures = [], []
    for name in sorted(set(current) | set(floors) | set(before)):
        value, floor, old = current.get(name), floors.get(name), before.get(name)
        parts = [f"{name}: " + ("not measured" if value is None else f"{value:.2f}x")]
        if floor is not None:
            parts.append(f"floor {floor:g}x")
            if value is None or value < floor:
                failures.append(f"{name} is {'not measured' if value is None else f'{value:.2f}x'}, its floor is {floor:g}x")
        if old is not None:
            lowest = old * (1 - margin)
            parts.append(f"baseline {old:.2f}x (fails below {lowest:.2f}x)")
            if value is None or value < lowest:
                failures.append(
                    f"{name} is {'not measured' if value is None else f'{value:.2f}x'}, "
                    f"more than {margin:.0%} below the baseline's {old:.2f}x"
                )
        lines.append(", ".join(parts))
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="floors, baseline and margin (TOML)")
    args = parser.parse_args(argv)
    config = tomllib.loads(args.config.read_text())
    run = json.loads(args.run.read_text())
    baseline, margin = None, 0.0
    if "baseline" in config:
        path = args.config.parent / config["baseline"]["file"]
        baseline, margin = json.loads(path.read_text()), config["baseline"]["margin"]
        if _mode(baseline) != _mode(run):
            print(f"cannot compare: the baseline {path} ran in {_mode(baseline)} mode, {args.run} in {_mode(run)} mode")
            return 2
    lines, failures = check(run, config.get("floors", {}), baseline, margin)
    print("\n".join(lines))
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
