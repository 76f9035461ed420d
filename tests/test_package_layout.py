"""The package's structure holds: no import cycles, the plugin contract on the ground floor,
every import declared as a dependency, every subpackage shipped.

Imports are read from the source (ast), at every level: an import inside a function is a
dependency of the design as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Where each top-level package of the distribution lives in the source tree.
PACKAGE_DIRS = {name: ROOT / folder for name, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items()}


def _source_modules() -> dict[str, Path]:
    """Every module of the distribution by dotted name, e.g. 'cae.training.engine'."""
    modules = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("")
            parts = [part for part in relative.parts if part != "__init__"]
            name = ".".join([package, *parts])
            # a folder mapped to a subpackage of its own (cae.fusion) is not also part of cae
            if not any(other != package and other.startswith(package + ".") and name.startswith(other)
                       for other in PACKAGE_DIRS):
                modules[name] = path
    return modules


MODULES = _source_modules()


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in a file; absolute imports only (cae uses no others)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _cae_dependencies(path: Path) -> set[str]:
    """The cae modules a file imports (`from cae.x import y` names cae.x.y when that is a module)."""
    targets = set()
    for module, names in _imports(path):
        if module != "cae" and not module.startswith("cae."):
            continue
        submodules = {f"{module}.{name}" for name in names} & MODULES.keys()
        targets |= submodules or ({module} if module in MODULES else set())
        if names and len(submodules) < len(names) and module in MODULES:
            targets.add(module)
    return targets


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, or None (depth-first search)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    graph = {name: _cae_dependencies(path) - {name} for name, path in MODULES.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("module", ["cae.plugins.contract", "cae.plugins.hookspecs", "cae.geometry", "cae.errors"])
def test_the_ground_floor_imports_nothing_of_cae(module):
    imported = [name for name, _ in _imports(MODULES[module]) if name == "cae" or name.startswith("cae.")]
    assert imported == [], f"{module} imports {imported}"


def _declared() -> set[str]:
    requirements = PYPROJECT["project"]["dependencies"]
    return {re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in requirements}


def test_every_third_party_import_is_a_declared_dependency():
    """An import that arrives through another package (kornia through torchgeo) breaks the
    day that package drops it: each one must be named in pyproject.toml."""
    distributions = packages_distributions()
    undeclared = {}
    for name, path in MODULES.items():
        for module, _ in _imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "cae" or top == "__future__":
                continue
            owners = {owner.lower().replace("_", "-") for owner in distributions.get(top, [top])}
            if not owners & _declared():
                undeclared.setdefault(top, set()).add(name)
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_subpackage_is_shipped():
    """A folder missing from [tool.setuptools] packages works in a checkout and is absent from the wheel."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert packages - listed == set()
