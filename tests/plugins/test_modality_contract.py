"""The contract every installed modality meets, built-in or third-party.

The checks live in the package (`cae.testing`) so that a plugin's own test suite runs them
without a checkout of cae (examples/cae-spectral-indices does). Here they are parametrised
over whatever is installed, so a plugin installed next to cae (as CI does) is held to the
same contract.
"""

from __future__ import annotations

import pytest

from cae.plugins.manager import installed_modalities
from cae.testing import check_checkpoint_round_trip, check_preprocessing, check_sample_cube, check_spec

INSTALLED = sorted(installed_modalities().modalities)


@pytest.fixture(scope="module", params=INSTALLED)
def modality(request) -> str:
    return request.param


def test_every_installed_plugin_loads_with_a_valid_spec(modality):
    check_spec(modality)


def test_the_sample_cube_is_one_the_modality_reads(modality):
    check_sample_cube(modality)


def test_preprocessing_maps_the_sample_cube_into_the_unit_range_with_a_mask(modality):
    check_preprocessing(modality)


def test_the_encoder_round_trips_a_checkpoint(modality, tmp_path):
    check_checkpoint_round_trip(modality, tmp_path)


def test_the_contract_checks_fail_a_broken_plugin_saying_what_is_wrong(monkeypatch):
    """A check that passed everything would pass a broken plugin: here s2's preprocessing
    forgets to scale (values up to 100) and its mask says nothing is missing."""
    from dataclasses import replace

    import cae.testing
    from cae.plugins.manager import InstalledModality, ModalityRegistry

    real = installed_modalities()
    spec = real.spec("s2")

    def unscaled(cube, mask_variable=None):
        prepared = spec.preprocess(cube, mask_variable=mask_variable)
        return replace(prepared, values=prepared.values * 100)

    broken = ModalityRegistry(modalities={
        **real.modalities, "s2": InstalledModality(replace(spec, preprocess=unscaled), "fake", "fake-s2", "0"),
    })
    monkeypatch.setattr(cae.testing, "installed_modalities", lambda: broken)
    with pytest.raises(AssertionError, match=r"not \[0, 1\]"):
        check_preprocessing("s2")
    with pytest.raises(AssertionError, match="is not installed"):
        check_spec("no_such_sensor")
