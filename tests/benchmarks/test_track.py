"""The benchmark tracker (`benchmarks/track.py`): what makes CI fail on a slower fast path.

The slow test runs the real `cae embed` benchmark of the tiny preset on the demo cube with
its fast path replaced by the per-window reference (the `naive_fast_path` plugin beside this
file) and tracks it against the repository's floor; the stored baseline, a real run of the library as
it is, passes the floors. The others track SYNTHETIC runs, written here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRACK = REPO / "benchmarks" / "track.py"
TINY = "cpu/float32/tiny_fast_vs_naive"


def _track(run: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRACK), str(run), "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO)


def _write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def _run(mode: str = "quick", **values: float) -> dict:
    """A SYNTHETIC pytest-benchmark run holding only what the tracker reads."""
    return {
        "machine_info": {"cae": {"mode": mode}},
        "benchmarks": [{"extra_info": {"device": "cpu", "dtype": "float32", "ratios": {name: value}}}
                       for name, value in values.items()],
    }


def _config(tmp_path: Path, floors: dict[str, float], baseline: Path | None = None, margin: float = 0.35) -> Path:
    lines = ["[floors]", *(f'"{name}" = {value}' for name, value in floors.items())]
    if baseline is not None:
        lines += ["[baseline]", f'file = "{baseline.name}"', f"margin = {margin}"]
    path = tmp_path / "tracking.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_tracking_fails_a_real_run_whose_fast_path_is_forced_to_the_naive_one(tmp_path):
    run = tmp_path / "run.json"
    subprocess.run(  # a real quick run of the tiny preset's naive and fast paths on the demo cube
        [sys.executable, "-m", "pytest", "benchmarks/test_embed_speed.py", "--benchmark-only", "-k", "tiny",
         "--benchmark-devices", "cpu", f"--benchmark-json={run}", "-p", "no:cacheprovider", "-q",
         "-p", "naive_fast_path"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)}, check=True, capture_output=True,
    )
    floors = tomllib.loads((REPO / "benchmarks" / "tracking.toml").read_text())["floors"]
    result = _track(run, _config(tmp_path, {TINY: floors[TINY]}))  # the repository's floor; the run has only tiny
    assert result.returncode == 1, result.stdout
    assert re.search(rf"FAILED: {TINY} is \d+\.\d+x, its floor is", result.stdout), result.stdout


def test_a_ratio_further_below_the_baseline_than_the_margin_fails(tmp_path):
    baseline = _write(tmp_path / "baseline.json", _run(dense_fast_vs_naive=60.0))
    config = _config(tmp_path, {}, baseline, margin=0.35)
    within = _track(_write(tmp_path / "within.json", _run(dense_fast_vs_naive=40.0)), config)
    beyond = _track(_write(tmp_path / "beyond.json", _run(dense_fast_vs_naive=38.0)), config)
    assert within.returncode == 0, within.stdout
    assert beyond.returncode == 1
    assert "FAILED: cpu/float32/dense_fast_vs_naive is 38.00x, more than 35% below the baseline's 60.00x" in beyond.stdout


def test_a_ratio_with_a_floor_that_the_run_did_not_measure_fails(tmp_path):
    config = _config(tmp_path, {TINY: 2, "cpu/float32/paper_fast_vs_naive": 4})
    result = _track(_write(tmp_path / "run.json", _run(tiny_fast_vs_naive=5.0)), config)
    assert result.returncode == 1
    assert "FAILED: cpu/float32/paper_fast_vs_naive is not measured" in result.stdout


def test_a_baseline_measured_in_the_other_mode_is_not_compared(tmp_path):
    baseline = _write(tmp_path / "baseline.json", _run("full", tiny_fast_vs_naive=5.0))
    result = _track(_write(tmp_path / "run.json", _run(tiny_fast_vs_naive=5.0)), _config(tmp_path, {}, baseline))
    assert result.returncode == 2
    assert "full mode" in result.stdout


def test_the_stored_baseline_passes_the_repository_floors():
    result = _track(REPO / "benchmarks" / "baseline" / "quick-cpu.json", REPO / "benchmarks" / "tracking.toml")
    assert result.returncode == 0, result.stdout
