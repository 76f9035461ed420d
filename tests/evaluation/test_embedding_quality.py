"""The regression bar of the embedding on real labels (docs/embedding-quality.md).

A small, fast version of `cae evaluate probe` on the real Romania cube: the suite's S2
encoder (the demo's recipe, fewer steps), fusion over it, the embedding of 2018 (with the
5 dates of context on either side), and the probes. It fails if the fused embedding falls
back below the band medians on tree cover (within the margin a model of a third of the demo's
steps needs), or stops following each date's NDVI.
"""

from __future__ import annotations

import pytest

from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path, demo_label_path
from cae.demo import demo_training_config
from cae.embedding.run import EmbedOptions, embed
from cae.evaluation.probe import ProbeOptions, run_probe
from cae.evaluation.probe_report import verdict
from cae.evaluation.temporal_probe import run_temporal_probe
from cae.fusion.training import train_fusion

#: Fusion steps: a third of the encoder's, as in the demo.
FUSION_STEPS = 170
#: The suite's encoder trains for a third of the demo's steps. With the demo's 1,500 the
#: embedding's percentiles beat the band medians on tree cover (R2 0.910 vs 0.887) and NDVI
#: follows each date with R2 0.965 (docs/embedding-quality.md); with 500 it came to 0.85-0.87
#: and 0.92. The embedding before the centre path scored 0.31 and 0.40: these bars catch any
#: fall back towards it, and stay clear of the suite model's shortfall.
TREE_COVER_TOLERANCE = 0.05
NDVI_BAR = 0.9


@pytest.fixture(scope="module")
def embedding_2018(real_s2_run, tmp_path_factory):
    root = real_s2_run.run_dir.parent
    train_fusion([demo_cube_path("s2")], root / "fusion", demo_training_config("s2", max_steps=FUSION_STEPS),
                 runs=root, progress=False)
    folder = tmp_path_factory.mktemp("quality")
    cube = folder / "romania_2018.zarr"
    write_cube(open_cube(demo_cube_path("s2")).sel(time=slice("2017-09-01", "2019-04-30")), cube)
    store, _ = embed([cube], root / "fusion", folder / "romania_2018_embedding.zarr", EmbedOptions(device="cpu"))
    return store, cube


@pytest.mark.slow
def test_the_fused_embedding_knows_tree_cover_about_as_well_as_the_band_medians(embedding_2018):
    store, cube = embedding_2018
    result = run_probe(store, demo_label_path(), [cube], ProbeOptions(period="2018", percentiles=True))
    found = verdict(result)
    assert result.details["pixels"] > 1500
    assert found["embedding"] >= found["band_medians"] - TREE_COVER_TOLERANCE, found


@pytest.mark.slow
def test_the_embedding_of_a_date_follows_that_dates_ndvi(embedding_2018):
    store, cube = embedding_2018
    result = run_temporal_probe(store, [cube], ProbeOptions(period="2018"))
    assert result.scores["NDVI", "boosted trees"]["r2"] >= NDVI_BAR, result.scores["NDVI", "boosted trees"]
