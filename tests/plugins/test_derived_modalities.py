"""Derived modalities: computed from another modality's cube (e.g. indices of S2 reflectance).

They read the cubes of their source, never claim a cube by its bands, are read from the
same cube as their source in a stack, and a fusion checkpoint that needs one refuses to
resume or load once its plugin is gone.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from cae.cli.app import run
from cae.cube.stack import load_stack, modality_of
from cae.data import demo_cube_path
from cae.errors import InputError
from cae.fusion.checkpoint import FUSION_KIND, FUSION_METADATA
from cae.fusion.training import train_fusion
from cae.plugins.hookspecs import hookimpl
from cae.plugins.contract import Band, LossWeights, ModalitySpec, PreparedModality
from cae.plugins.manager import LoadedPlugins, collect_modalities, installed_modalities, new_plugin_manager
from cae.training.data import load_sources
from cae.training.run_folder import STATE_FILE


def greenness(cube, mask_variable=None) -> PreparedModality:
    """A TEST index: (NDVI + 1) / 2, valid wherever both bands are finite."""
    nir, red = cube["B08"].astype("float32"), cube["B04"].astype("float32")
    values = (((nir - red) / (nir + red) + 1) / 2).expand_dims(band=["greenness"])
    return PreparedModality("greenness", ("greenness",), values, np.isfinite(nir + red), {"index": "greenness"})


def _greenness_spec(**changes) -> ModalitySpec:
    fields = dict(
        name="greenness",
        title="test index derived from s2",
        bands=(Band("B04", "reflectance"), Band("B08", "reflectance")),
        preprocess=greenness,
        latent_dim=2,
        temporal_reduction=3,
        loss_weights=LossWeights(mae=1.0),
        fusion_loss_weights=LossWeights(mae=1.0),
        derived_from="s2",
    )
    fields.update(changes)
    return ModalitySpec(**fields)


PLUGIN = """
    from cae.plugins.hookspecs import hookimpl
    from test_derived_modalities import _greenness_spec

    @hookimpl
    def register_modalities(register):
        register(_greenness_spec())
"""


@pytest.fixture
def installed_greenness(tmp_path, monkeypatch):
    """The derived test modality installed through a real entry point (dist-info on sys.path)."""
    (tmp_path / "cae_greenness.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "cae_greenness-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cae-greenness\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[cae.modalities]\ncae-greenness = cae_greenness\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    installed_modalities.cache_clear()
    yield installed_modalities()
    sys.path.remove(str(tmp_path))
    installed_modalities.cache_clear()


def _registry_with(*specs: ModalitySpec):
    class Plugin:
        @hookimpl
        def register_modalities(self, register):
            for spec in specs:
                register(spec)

    manager = new_plugin_manager()
    manager.register(Plugin(), name="test-plugin")
    return collect_modalities(LoadedPlugins(manager))


def test_a_derived_modality_needs_its_source_installed():
    registry = _registry_with(_greenness_spec())
    assert registry.modalities == {}
    assert "derived from 's2', which is not installed" in registry.failures[0].reason


def test_a_spec_cannot_derive_from_itself():
    assert any("derived_from" in problem for problem in _greenness_spec(derived_from="greenness").problems())


def test_a_derived_modality_never_claims_a_cube_by_its_bands(installed_greenness, romania_s2):
    unlabelled = romania_s2.copy()
    unlabelled.attrs = {}
    assert modality_of(unlabelled, installed_greenness, "cube") == "s2"


def test_a_derived_modality_trains_on_its_source_cube(installed_greenness):
    spec, sources = load_sources("greenness", [demo_cube_path("s2")])
    [source] = sources.values()
    assert spec.name == "greenness" and source.prepared["greenness"].bands == ("greenness",)


def test_one_s2_cube_stacks_s2_and_the_modality_derived_from_it(installed_greenness):
    stack = load_stack([demo_cube_path("s2")], installed_greenness, derived=["greenness"])
    assert list(stack.modalities) == ["s2", "greenness"] and stack.time_axis == "s2"
    derived = stack.modalities["greenness"]
    np.testing.assert_array_equal(derived.times, stack.times)
    np.testing.assert_array_equal(derived.offset_days, 0.0)
    assert derived.valid.shape == stack.reference.valid.shape
    alone = load_stack([demo_cube_path("s2")], installed_greenness)
    assert list(alone.modalities) == ["s2"]


def test_only_a_derived_modality_is_read_from_another_modality_cube(installed_greenness):
    with pytest.raises(InputError, match="s1 is not derived"):
        load_stack([demo_cube_path("s2")], installed_greenness, derived=["s1"])


def test_fusion_names_a_modality_no_cube_provides(installed_greenness, tmp_path):
    with pytest.raises(InputError, match="no cube holds s1"):
        train_fusion([demo_cube_path("s2")], tmp_path / "fusion", runs=tmp_path, modalities=["s2", "greenness", "s1"])
    with pytest.raises(InputError, match="a cube of s2 is given but not asked for"):
        train_fusion([demo_cube_path("s2")], tmp_path / "fusion", runs=tmp_path, modalities=["greenness"])


def test_resuming_a_fusion_that_needs_an_uninstalled_modality_is_refused(tmp_path, capsys):
    """The refusal comes first, whatever else the run holds: here only its record."""
    run_dir = tmp_path / "fusion"
    run_dir.mkdir()
    (run_dir / STATE_FILE).touch()
    record = {
        "run_dir": str(tmp_path / "greenness"),
        "plugin": {"name": "cae-greenness", "package": "cae-greenness", "version": "0.3"},
    }
    (run_dir / FUSION_METADATA).write_text(json.dumps({"kind": FUSION_KIND, "encoders": {"greenness": record}}))
    assert run(["train", "--fusion", "--resume", "--out", str(run_dir)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "needs modality 'greenness' (plugin cae-greenness 0.3), which is not installed" in err
