"""Finding the installed modality plugins.

Plugins are loaded from the entry-point group `cae.modalities`, exactly as a third-party
package registers its own sensor. One broken plugin never takes the others down: it is
reported with its name and the reason, and skipped. Two plugins claiming one modality name
is an error naming both, never a silent overwrite.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from cae.plugins import hookspecs
from cae.errors import PluginError
from cae.geometry import N_DATES
from cae.plugins.contract import ModalitySpec

ENTRY_POINT_GROUP = "cae.modalities"


@dataclass(frozen=True)
class InstalledModality:
    """A registered modality and the distribution that provides it."""

    spec: ModalitySpec
    plugin: str
    package: str
    version: str


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why."""

    plugin: str
    reason: str


@dataclass
class ModalityRegistry:
    """The modalities that loaded, by name, and the plugins that failed."""

    modalities: dict[str, InstalledModality] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def get(self, name: str) -> InstalledModality:
        if name not in self.modalities:
            known = ", ".join(sorted(self.modalities)) or "none"
            raise PluginError(f"unknown modality {name!r}; installed: {known}")
        return self.modalities[name]

    def spec(self, name: str) -> ModalitySpec:
        return self.get(name).spec

    def time_axis_modalities(self) -> list[str]:
        return [name for name, item in self.modalities.items() if item.spec.defines_time_axis]


@dataclass
class LoadedPlugins:
    """A plugin manager, which distribution provides each plugin, and what failed to load."""

    manager: pluggy.PluginManager
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)



def sampling_problems(spec: ModalitySpec) -> list[str]:
    """Why the spec's sampling cannot cut samples of the method's geometry; empty when it can."""
    sampling = spec.sampling
    if sampling.window_dates < N_DATES or sampling.window_stride < 1 or sampling.patch_stride < 1:
        return [f"sampling needs window_dates >= {N_DATES} and strides >= 1: {sampling}"]
    return []

def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager that knows the cae hooks (tests register their own plugins)."""
    manager = pluggy.PluginManager("cae")
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins() -> LoadedPlugins:
    """A plugin manager with every loadable `cae.modalities` entry point registered.

    pluggy's own `load_setuptools_entrypoints` stops at the first plugin that raises on
    import and silently skips a second entry point of the same name, so entry points are
    loaded one by one here: failures are collected and name clashes are errors.
    """
    loaded = LoadedPlugins(new_plugin_manager())
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        package = entry_point.dist.name if entry_point.dist is not None else entry_point.value
        version = entry_point.dist.version if entry_point.dist is not None else "unknown"
        if entry_point.name in loaded.packages:
            raise PluginError(
                f"two plugins use the entry-point name {entry_point.name!r}: "
                f"{loaded.packages[entry_point.name][0]} and {package}; rename one of them"
            )
        loaded.packages[entry_point.name] = (package, version)
        try:
            loaded.manager.register(entry_point.load(), name=entry_point.name)
        except Exception as error:  # a broken plugin is reported, the others keep working
            loaded.failures.append(PluginFailure(entry_point.name, f"failed to load: {error!r}"))
    loaded.manager.check_pending()
    return loaded


def collect_modalities(plugins: LoadedPlugins) -> ModalityRegistry:
    """Call every plugin's `register_modalities` and check what each one declares.

    Each plugin is called on its own, so one that raises is reported and skipped.
    """
    registry = ModalityRegistry(failures=list(plugins.failures))
    for implementation in plugins.manager.hook.register_modalities.get_hookimpls():
        plugin_name = implementation.plugin_name
        package, version = plugins.packages.get(plugin_name, (plugin_name, "unknown"))
        declared: list[ModalitySpec] = []
        try:
            implementation.function(register=declared.append)
        except Exception as error:
            registry.failures.append(PluginFailure(plugin_name, f"register_modalities raised {error!r}"))
            continue
        for spec in declared:
            if not isinstance(spec, ModalitySpec):
                registry.failures.append(PluginFailure(plugin_name, f"registered {spec!r}, not a ModalitySpec"))
                continue
            problems = spec.problems() + sampling_problems(spec)
            if problems:
                registry.failures.append(
                    PluginFailure(plugin_name, f"invalid modality {spec.name!r}: " + "; ".join(problems))
                )
                continue
            if spec.name in registry.modalities:
                first = registry.modalities[spec.name]
                raise PluginError(
                    f"modality {spec.name!r} is registered twice: by {first.package} "
                    f"(plugin {first.plugin}) and by {package} (plugin {plugin_name}); "
                    "uninstall one of them"
                )
            registry.modalities[spec.name] = InstalledModality(spec, plugin_name, package, version)
    for name, item in list(registry.modalities.items()):
        source = item.spec.derived_from
        if source is not None and source not in registry.modalities:
            del registry.modalities[name]
            registry.failures.append(
                PluginFailure(item.plugin, f"modality {name!r} is derived from {source!r}, which is not installed")
            )
    return registry


@functools.cache
def installed_modalities() -> ModalityRegistry:
    """The modalities of every installed plugin (loaded once per process)."""
    return collect_modalities(load_plugins())
