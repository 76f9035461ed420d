"""The command line: fast start-up without torch, version, help, the demo."""

from __future__ import annotations

import json
import subprocess
import sys

import xarray as xr

from cae import __version__
from cae.cli.app import run


def _modules_loaded_by(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    return set(result.stdout.split())


def test_importing_the_cli_does_not_import_torch():
    assert "torch" not in _modules_loaded_by("import cae.cli.app")


def test_help_and_modalities_do_not_import_torch():
    for argv in (["--help"], ["modalities"], ["cube", "--help"]):
        loaded = _modules_loaded_by(f"from cae.cli.app import run\nrun({argv!r})")
        assert "torch" not in loaded, argv


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cae {__version__}"


def test_help_lists_the_commands(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("modalities", "cube", "demo"):
        assert command in out


def test_unknown_option_is_a_usage_error(capsys):
    assert run(["modalities", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_demo_validates_the_real_cubes_then_trains_and_reuses_its_models(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert run(["demo", "--out", str(out_dir), "--max-steps", "9"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "EPSG:3035" in out and "EPSG:27704" in out
    assert "122" in out and "107" in out  # usable S2 dates, S1 dates
    assert "held-out centre MAE of the S2 encoder" in out and "through the 7-d fused embedding" in out
    assert (out_dir / "runs" / "s2" / "encoder.safetensors").exists()
    assert (out_dir / "runs" / "fusion" / "fusion.safetensors").exists()
    store = out_dir / "romania_embedding.zarr"
    assert f"embedding store: {store}" in out
    embedding = xr.open_zarr(store, consolidated=False).embedding
    assert embedding.sizes == {"feature": 7, "time": 122, "y": 100, "x": 100}
    assert int(embedding.isel(feature=0).notnull().sum()) > 100_000
    evaluation = out_dir / "evaluation"
    report = json.loads((evaluation / "reconstruction.json").read_text())
    assert "reconstruction report:" in out and (evaluation / "reconstruction.md").exists()
    assert "s2" in json.dumps(report) and "pca" in json.dumps(report).lower()
    maps = sorted((evaluation / "maps").glob("*.png"))
    assert maps and all(path.stat().st_size > 10_000 for path in maps)
    assert f"maps ({len(maps)} dates)" in out
    assert run(["demo", "--out", str(out_dir)]) == 0  # a second demo reuses what the first trained
    out = " ".join(capsys.readouterr().out.split())
    assert "using the encoder trained earlier" in out and "using the fusion model trained earlier" in out
    assert "using the embedding made earlier" in out
