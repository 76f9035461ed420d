"""docs/reliability.md promises a test for every fault it lists: each one named must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "reliability.md"


def _test_references() -> list[tuple[str, str]]:
    rows = [line for line in TABLE.read_text().splitlines() if line.startswith("| ") and "`tests/" in line]
    return [(path, name) for row in rows for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)", row)]


def test_the_table_lists_at_least_20_faults_each_with_a_test():
    rows = [line for line in TABLE.read_text().splitlines() if line.startswith("| ") and not line.startswith("| Fault")]
    assert len(rows) >= 20
    assert all(re.search(r"`tests/[\w/]+\.py::\w+", row) or "same test as" in row for row in rows), rows


def test_every_test_the_table_names_exists():
    references = _test_references()
    assert references
    for path, name in references:
        assert re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.MULTILINE), f"{path}::{name}"
