"""CLI faults: one clear line, exit code 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

from cae.cli.app import run


def test_cube_build_refuses_an_existing_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cube.zarr"
    out.mkdir()
    (out / "keep").write_text("old")
    code = run(["cube", "build", str(tmp_path), "--modality", "s2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "exists; pass --overwrite" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep"] and (out / "keep").read_text() == "old"
