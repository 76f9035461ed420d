"""The command line: fast start-up without torch, version, help, the demo."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import xarray as xr

import cae.data
import cae.errors
from cae import __version__
from cae.cli.app import run
from cae.cube.io import open_cube, write_cube


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


def test_demo_uses_the_shipped_model_on_the_real_cubes_and_reuses_what_it_made(tmp_path, capsys, monkeypatch):
    # The demo on a 48 x 48 pixel corner of the real Romania cube, all its dates: the whole
    # 100 x 100 cube takes minutes to embed on 2 cores, and the suite has a time budget.
    corner = write_cube(open_cube(cae.data.demo_cube_path("s2")).isel(y=slice(0, 48), x=slice(0, 48)),
                        tmp_path / "romania_corner.zarr")
    bundled = cae.data.demo_cube_path
    monkeypatch.setattr(cae.data, "demo_cube_path", lambda modality: corner if modality == "s2" else bundled(modality))
    monkeypatch.setattr("cae.evaluation.temporal_probe.MAX_PIXEL_DATES", 3000)  # the suite's time budget
    out_dir = tmp_path / "demo"
    assert run(["demo", "--out", str(out_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "EPSG:3035" in out and "EPSG:27704" in out
    assert "116" in out and "107" in out  # usable S2 dates of the corner, S1 dates
    assert "the S2 encoder and fusion model shipped with cae" in out and "cae demo --train" in out
    shipped = json.loads((cae.data.demo_model_path() / "scores.json").read_text())
    assert f"held-out centre MAE of the S2 encoder: {shipped['encoder_test']['center_mae']:.4f}" in out
    assert "through the 7-d fused embedding" in out
    assert (out_dir / "runs" / "s2" / "encoder.safetensors").exists()
    assert (out_dir / "runs" / "fusion" / "fusion.safetensors").exists()
    store = out_dir / "romania_embedding.zarr"
    assert f"embedding store: {store}" in out
    embedding = xr.open_zarr(store, consolidated=False).embedding
    assert embedding.sizes == {"feature": 7, "time": 116, "y": 48, "x": 48}
    embedded = int(re.search(r"embedded ([\d,]+) pixel-dates", out).group(1).replace(",", ""))
    assert int(embedding.isel(feature=0).notnull().sum()) == embedded > 0.5 * 34 * 34 * (116 - 10)
    evaluation = out_dir / "evaluation"
    report = json.loads((evaluation / "reconstruction.json").read_text())
    assert "reconstruction report:" in out and (evaluation / "reconstruction.md").exists()
    assert "s2" in json.dumps(report) and "pca" in json.dumps(report).lower()
    maps = sorted((evaluation / "maps").glob("*.png"))
    assert maps and all(path.stat().st_size > 10_000 for path in maps)
    assert f"maps ({len(maps)} dates)" in out
    probe = json.loads((evaluation / "probe" / "probe.json").read_text())
    assert "band medians" in out and "Temporal fidelity" in out and "probe report and figures" in out
    assert probe["label"]["period"] == ["2018-01-01", "2018-12-31"] and probe["label"]["blocks"] >= 5
    assert {row["target"] for row in probe["temporal"]["scores"]} >= {"NDVI", "B04", "B08"}
    assert run(["demo", "--out", str(out_dir)]) == 0  # a second demo reuses what the first made
    out = " ".join(capsys.readouterr().out.split())
    assert "shipped with cae" not in out
    assert "using the encoder in" in out and "using the fusion model in" in out
    assert "using the embedding made earlier" in out


def test_demo_train_trains_from_scratch_and_max_steps_needs_it(tmp_path, capsys, monkeypatch):
    asked = {}

    def train_encoder(modality, cubes, out, config, **_):
        asked.update(modality=modality, steps=config.max_steps, out=out)
        raise cae.errors.InputError("stopped here by the test")

    monkeypatch.setattr("cae.training.encoder.train_encoder", train_encoder)
    assert run(["demo", "--out", str(tmp_path / "demo"), "--train", "--max-steps", "9"]) == 2
    assert asked == {"modality": "s2", "steps": 9, "out": tmp_path / "demo" / "runs" / "s2"}
    assert not (tmp_path / "demo" / "runs" / "s2").exists()  # nothing shipped was copied
    assert run(["demo", "--out", str(tmp_path / "other"), "--max-steps", "9"]) == 2
    assert "add --train" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_the_shipped_demo_model_loads_and_scores_what_its_recipe_records(tmp_path):
    from cae.demo import install_shipped_model
    from cae.evaluation.reconstruction import reconstruction_report
    from cae.fusion.checkpoint import load_fusion

    package = cae.data.demo_model_path()
    before = {path.name: path.read_bytes() for path in package.rglob("*") if path.is_file()}
    install_shipped_model(tmp_path / "runs")
    assert {path.name: path.read_bytes() for path in package.rglob("*") if path.is_file()} == before
    fused = load_fusion(tmp_path / "runs" / "fusion")  # its encoder is found beside it, wherever runs/ lies
    assert fused.encoders["s2"].run_dir.resolve() == (tmp_path / "runs" / "s2").resolve()
    recorded = json.loads((package / "scores.json").read_text())
    assert recorded["encoder_test"]["center_mae"] <= 0.010 and recorded["tree_cover_probe"]["embedding_at_least_bands"]
    scores = reconstruction_report(tmp_path / "runs" / "s2")["modalities"]["s2"]["scores"]["autoencoder"]
    assert abs(scores["center_mae"] - recorded["encoder_test"]["center_mae"]) < 1e-5
