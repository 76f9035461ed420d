"""The plugin system: built-in sensors through entry points, fake, broken and duplicate plugins."""

from __future__ import annotations

import textwrap

import pytest

from cae.cli.app import run
from cae.errors import PluginError
from cae.plugins.hookspecs import hookimpl
from cae.plugins.contract import Band, LossWeights, ModalitySpec
from cae.plugins.manager import (
    LoadedPlugins,
    collect_modalities,
    installed_modalities,
    load_plugins,
    new_plugin_manager,
)


def _spec(name: str, **changes) -> ModalitySpec:
    fields = dict(
        name=name,
        title=f"test modality {name}",
        bands=(Band("A", "unitless"),),
        preprocess=lambda cube, mask_variable=None: None,
        latent_dim=3,
        temporal_reduction=4,
        loss_weights=LossWeights(mae=1.0),
        fusion_loss_weights=LossWeights(mae=1.0),
    )
    fields.update(changes)
    return ModalitySpec(**fields)


def _fake_distribution(root, package: str, module: str, source: str, entry_name: str | None = None) -> None:
    """Write an installed distribution (dist-info + module) that declares a cae.modalities entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{package.replace('-', '_')}-1.2.3.dist-info"  # wheel naming: no dash in the name
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[cae.modalities]\n{entry_name or package} = {module}\n")


FAKE_PLUGIN = """
    from cae.plugins.hookspecs import hookimpl
    from cae.plugins.contract import Band, LossWeights, ModalitySpec

    @hookimpl
    def register_modalities(register):
        register(ModalitySpec(
            name="{name}", title="fake sensor", bands=(Band("DN", "counts"),),
            preprocess=lambda cube, mask_variable=None: None, latent_dim=2, temporal_reduction=3,
            loss_weights=LossWeights(mae=1.0), fusion_loss_weights=LossWeights(mae=1.0),
        ))
"""


@pytest.fixture
def fresh_registry(monkeypatch):
    """Forget the cached registry so a test's fake distributions are discovered."""
    installed_modalities.cache_clear()
    yield
    installed_modalities.cache_clear()


def test_builtin_sensors_are_registered_through_entry_points(registry):
    assert {"s1", "s2"} <= set(registry.modalities)
    for name in ("s1", "s2"):
        assert registry.get(name).package == "cae"
        assert registry.get(name).plugin.startswith("cae-sentinel")
    assert registry.failures == []


def test_modalities_command_lists_s1_and_s2_with_their_package(capsys):
    assert run(["modalities"]) == 0
    out = capsys.readouterr().out
    assert "s1" in out and "s2" in out and "B8A" in out and "VH" in out
    assert "cae" in out


def test_fake_plugin_installed_through_an_entry_point_is_listed(tmp_path, monkeypatch, capsys, fresh_registry):
    _fake_distribution(tmp_path, "cae-fakesensor", "cae_fakesensor", FAKE_PLUGIN.format(name="fake"))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = installed_modalities()
    assert registry.get("fake").package == "cae-fakesensor"
    assert registry.get("fake").version == "1.2.3"
    assert run(["modalities"]) == 0
    out = capsys.readouterr().out
    assert "fake" in out and "cae-fakesensor" in out and "1.2.3" in out


def test_plugin_raising_on_load_is_reported_and_skipped(tmp_path, monkeypatch, capsys, fresh_registry):
    _fake_distribution(tmp_path, "cae-broken", "cae_broken", "raise RuntimeError('no driver for this sensor')")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = installed_modalities()
    assert {"s1", "s2"} <= set(registry.modalities)
    [failure] = registry.failures
    assert failure.plugin == "cae-broken" and "no driver for this sensor" in failure.reason
    assert run(["modalities"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo Rich's line wrapping
    assert "skipped plugin cae-broken" in out and "no driver for this sensor" in out


def test_plugin_declaring_an_invalid_spec_is_reported_and_skipped():
    class InvalidPlugin:
        @hookimpl
        def register_modalities(self, register):
            register(_spec("Bad Name", bands=()))

    class GoodPlugin:
        @hookimpl
        def register_modalities(self, register):
            register(_spec("good"))

    manager = new_plugin_manager()
    manager.register(InvalidPlugin(), name="invalid-plugin")
    manager.register(GoodPlugin(), name="good-plugin")
    registry = collect_modalities(LoadedPlugins(manager))
    assert list(registry.modalities) == ["good"]
    [failure] = registry.failures
    assert failure.plugin == "invalid-plugin"
    assert "lower-case" in failure.reason and "no bands" in failure.reason


def test_plugin_whose_hook_raises_is_reported_and_skipped():
    class RaisingPlugin:
        @hookimpl
        def register_modalities(self, register):
            raise ValueError("calibration table missing")

    manager = new_plugin_manager()
    manager.register(RaisingPlugin(), name="raising")
    registry = collect_modalities(LoadedPlugins(manager))
    assert registry.modalities == {}
    assert "calibration table missing" in registry.failures[0].reason


def test_two_plugins_with_one_modality_name_is_an_error_naming_both_packages(tmp_path, monkeypatch, fresh_registry):
    _fake_distribution(tmp_path, "cae-optical-a", "cae_optical_a", FAKE_PLUGIN.format(name="optical"))
    _fake_distribution(tmp_path, "cae-optical-b", "cae_optical_b", FAKE_PLUGIN.format(name="optical"))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as raised:
        installed_modalities()
    assert "cae-optical-a" in str(raised.value) and "cae-optical-b" in str(raised.value)


def test_a_second_plugin_claiming_s2_is_an_error_not_an_overwrite(tmp_path, monkeypatch, fresh_registry, capsys):
    _fake_distribution(tmp_path, "cae-other-s2", "cae_other_s2", FAKE_PLUGIN.format(name="s2"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run(["modalities"]) == 2
    err = capsys.readouterr().err
    assert "cae-other-s2" in err and "cae" in err and "Traceback" not in err


def test_two_entry_points_with_one_name_is_an_error_naming_both_packages(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "cae-first", "cae_first", FAKE_PLUGIN.format(name="first"), entry_name="sensor")
    _fake_distribution(tmp_path, "cae-second", "cae_second", FAKE_PLUGIN.format(name="second"), entry_name="sensor")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as raised:
        load_plugins()
    assert "cae-first" in str(raised.value) and "cae-second" in str(raised.value)
