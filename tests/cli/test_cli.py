"""The command line: fast start-up without torch, version, help, the demo."""

from __future__ import annotations

import subprocess
import sys

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


def test_demo_validates_the_bundled_real_cubes(tmp_path, capsys):
    assert run(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "EPSG:3035" in out and "EPSG:27704" in out
    assert "122" in out and "107" in out  # usable S2 dates, S1 dates
