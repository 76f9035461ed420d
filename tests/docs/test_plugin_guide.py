"""docs/plugins.md: every code block in it is the example plugin's code, or runs.

A block tagged `file=cae-spectral-indices/PATH` must be exactly that file of
examples/cae-spectral-indices, so the guide never drifts from the plugin CI installs and
tests. The guide as a whole (files written, commands and Python snippets run in order, from
an empty folder) runs when CAE_GUIDE_DIR names an empty folder to run it in: CI's plugin
step does so (it installs the plugin into the environment, so it is not part of the
default suite).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "cae-spectral-indices"
PLUGIN_FOLDER = "cae-spectral-indices/"
#: Files of the example that are not code the guide walks through.
NOT_IN_GUIDE = {"README.md"}

_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    language: str
    file: str | None
    text: str
    line: int


def guide_blocks() -> list[Block]:
    text = GUIDE.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        file = re.search(r"\bfile=(\S+)", match.group(2))
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(match.group(1), file.group(1) if file else None, match.group(3), line))
    return blocks


def guide_script(blocks: list[Block]) -> str:
    """One bash script doing what the guide says, in its order."""
    parts = []
    for block in blocks:
        if block.file is not None:
            parts.append(f"mkdir -p {Path(block.file).parent}\ncat > {block.file} <<'CAE_GUIDE_FILE'\n{block.text}CAE_GUIDE_FILE\n")
        elif block.language == "python":
            parts.append(f"python - <<'CAE_GUIDE_PYTHON'\n{block.text}CAE_GUIDE_PYTHON\n")
        else:
            parts.append(block.text)
    return "\n".join(parts)


def example_files() -> dict[str, str]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "."],
        cwd=EXAMPLE, capture_output=True, text=True, check=True,
    ).stdout.split()
    return {name: (EXAMPLE / name).read_text() for name in tracked if name not in NOT_IN_GUIDE}


def test_every_block_is_a_file_a_python_snippet_or_commands():
    blocks = guide_blocks()
    assert blocks
    for block in blocks:
        assert block.language in ("bash", "python", "toml"), f"line {block.line}: {block.language!r}"
        assert block.language != "toml" or block.file, f"line {block.line}: a toml block must be a file"
        assert block.file is None or block.file.startswith(PLUGIN_FOLDER), f"line {block.line}: {block.file}"
        assert "CAE_GUIDE_" not in block.text


def test_the_files_in_the_guide_are_the_example_plugin():
    in_guide = {block.file.removeprefix(PLUGIN_FOLDER): block.text for block in guide_blocks() if block.file}
    files = example_files()
    assert sorted(in_guide) == sorted(files)
    for name, text in files.items():
        assert in_guide[name] == text, f"docs/plugins.md shows another {name} than {EXAMPLE / name}"


@pytest.mark.skipif(
    not os.environ.get("CAE_GUIDE_DIR"),
    reason="set CAE_GUIDE_DIR to an empty folder to run the guide (it pip-installs the plugin: CI's plugin step)",
)
def test_the_guide_runs_from_an_empty_folder():
    folder = Path(os.environ["CAE_GUIDE_DIR"])
    assert folder.is_dir() and not any(folder.iterdir()), f"{folder} must be an empty folder"
    script = folder.parent / f"{folder.name}.guide.sh"
    script.write_text(guide_script(guide_blocks()))
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)], cwd=folder, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    assert (folder / "runs" / "fusion" / "fusion.json").exists()
