"""Samples (DESIGN 3): shapes, the centre-valid and span rules, mean fill, splits, inference."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cae.cube.prepare import prepare_modality
from cae.plugins.contract import PreparedModality, SamplingDefaults
from cae.samples.windows import (
    PatchCutter,
    PatchIndex,
    day_numbers,
    band_fill_values,
    fill_invalid,
    inference_indices,
    training_indices,
)
from cae.samples.blocks import spatial_blocks, split_blocks


@pytest.fixture(scope="module")
def prepared_romania(registry, romania_s2):
    return prepare_modality(romania_s2, registry.spec("s2"))


@pytest.fixture(scope="module")
def romania_indices(registry, prepared_romania):
    rng = np.random.default_rng(42)
    return training_indices(prepared_romania.valid.values, prepared_romania.times, registry.spec("s2").sampling, rng)


def test_real_samples_have_the_documented_shapes_and_no_nan(prepared_romania, romania_indices):
    cutter = PatchCutter(prepared_romania)
    assert len(romania_indices) > 100
    for index in romania_indices[::7]:
        sample = cutter.cut(index)
        assert sample.values.shape == (11, 6, 15, 15) and sample.values.dtype == np.float32
        assert sample.mask.shape == (11, 15, 15) and sample.mask.dtype == bool
        assert sample.day_offsets.shape == (11,) and (np.diff(sample.day_offsets) > 0).all()
        assert sample.day_offsets[0] == 0
        assert not np.isnan(sample.values).any()
        assert sample.mask[5, 7, 7]  # the centre pixel is valid at the centre date


def test_training_dates_are_11_sorted_draws_from_one_window_spanning_under_200_days(prepared_romania, romania_indices):
    days = day_numbers(prepared_romania.times)
    for index in romania_indices:
        dates = np.array(index.dates)
        assert len(dates) == 11 and (np.diff(dates) > 0).all()
        assert any(start <= dates[0] and dates[-1] < start + 20 for start in range(0, len(days), 17))
        assert days[dates[-1]] - days[dates[0]] < 200


def test_training_windows_follow_the_strides():
    valid = np.ones((60, 40, 40), dtype=bool)
    times = np.datetime64("2020-01-01") + np.arange(60) * np.timedelta64(3, "D")
    indices = training_indices(valid, times, SamplingDefaults(), np.random.default_rng(0))
    # Time windows start at 0, 17, 34 (a 4th would end past 60); rows/cols 0, 9, 18 (27 + 15 > 40).
    assert len(indices) == 3 * 3 * 3
    assert sorted({(i.row, i.col) for i in indices}) == [(r, c) for r in (0, 9, 18) for c in (0, 9, 18)]
    starts = sorted({min(i.dates) // 17 for i in indices})
    assert starts == [0, 1, 2]
    assert all(max(i.dates) < (min(i.dates) // 17) * 17 + 20 for i in indices)


def test_samples_with_invalid_centre_or_long_span_are_dropped():
    valid = np.ones((20, 15, 15), dtype=bool)
    valid[:, 7, 7] = False
    times = np.datetime64("2020-01-01") + np.arange(20) * np.timedelta64(3, "D")
    assert training_indices(valid, times, SamplingDefaults(), np.random.default_rng(0)) == []
    valid[:, 7, 7] = True
    slow = np.datetime64("2020-01-01") + np.arange(20) * np.timedelta64(30, "D")  # 11 dates span >= 300 days
    assert training_indices(valid, slow, SamplingDefaults(), np.random.default_rng(0)) == []
    assert len(training_indices(valid, times, SamplingDefaults(), np.random.default_rng(0))) == 1


def test_missing_values_are_filled_with_the_band_means_over_all_valid_pixel_dates():
    values = np.zeros((3, 2, 4, 4), dtype=np.float32)
    values[:, 0] = 0.2
    values[:, 1] = 0.6
    values[1, 0, 1:, :] = 0.5  # date 1, band 0: 4 pixels at 0.2 and 12 at 0.5
    valid = np.ones((3, 4, 4), dtype=bool)
    valid[1, 0, 0] = False
    values[1, :, 0, 0] = 0.9  # present but invalid: must not count in the mean
    valid[2] = False  # a date with no valid pixel
    mask = xr.DataArray(valid, dims=("time", "y", "x"))
    prepared = PreparedModality("s2", ("B1", "B2"), xr.DataArray(values, dims=("time", "band", "y", "x")).where(mask), mask)
    fill = band_fill_values([prepared])
    # Date 0: 16 pixels at 0.2; date 1: 3 at 0.2 and 12 at 0.5 (band 0), 15 at 0.6 (band 1).
    assert fill[0] == pytest.approx((19 * 0.2 + 12 * 0.5) / 31)
    assert fill[1] == pytest.approx(0.6)
    filled = fill_invalid(values, valid, fill)
    assert filled[1, 0, 0, 0] == pytest.approx(fill[0]) and filled[1, 1, 0, 0] == pytest.approx(0.6)
    np.testing.assert_allclose(filled[2, 0], fill[0])
    assert filled[0, 0, 0, 0] == pytest.approx(0.2)


def test_a_frame_has_the_same_input_in_every_window_that_contains_it(prepared_romania):
    """The fill depends on the pixel and date only, not on the window (what embed relies on)."""
    cutter = PatchCutter(prepared_romania)
    first, second = cutter.cut(PatchIndex(tuple(range(11)), 30, 30)), cutter.cut(PatchIndex(tuple(range(3, 14)), 33, 28))
    assert not first.mask[3:].all()  # some filled values are compared
    np.testing.assert_array_equal(first.values[3:, :, 3:, :13], second.values[:8, :, :12, 2:])


def test_an_unpadded_encoder_gets_the_patch_and_its_halo_and_positions_leave_room_for_it(prepared_romania):
    plain, wide = PatchCutter(prepared_romania), PatchCutter(prepared_romania, halo=3)
    index = PatchIndex(tuple(range(11)), 20, 40)
    sample, with_halo = plain.cut(index), wide.cut(index)
    assert with_halo.values.shape == (11, 6, 21, 21) and with_halo.mask.shape == (11, 15, 15)
    np.testing.assert_array_equal(with_halo.values[..., 3:18, 3:18], sample.values)
    np.testing.assert_array_equal(with_halo.mask, sample.mask)
    rows = {index.row for index in inference_indices(11, 30, 30, halo=3)}
    assert rows == {3, 4, 5, 6, 7, 8, 9, 10, 11, 12}  # 3 + 15 + 3 <= 30


def test_inference_covers_every_pixel_date_with_full_context():
    indices = list(inference_indices(n_times=14, height=17, width=16))
    assert len(indices) == (14 - 10) * (17 - 14) * (16 - 14)
    centres = {index.center for index in indices}
    assert min(c[0] for c in centres) == 5 and max(c[0] for c in centres) == 8
    assert {c[1] for c in centres} == {7, 8, 9} and {c[2] for c in centres} == {7, 8}
    assert all(index.dates == tuple(range(index.dates[0], index.dates[0] + 11)) for index in indices)


def test_inference_can_skip_positions_whose_centre_is_invalid():
    valid = np.ones((11, 15, 15), dtype=bool)
    assert list(inference_indices(11, 15, 15, valid)) == [PatchIndex(tuple(range(11)), 0, 0)]
    valid[5, 7, 7] = False
    assert list(inference_indices(11, 15, 15, valid)) == []


def test_sites_split_whole_blocks_and_no_training_patch_crosses_into_another_split(prepared_romania):
    blocks = spatial_blocks("romania", 100, 100, block=50)
    assert len(blocks) == 4
    split = split_blocks(blocks, seed=42)
    assert [len(split[name]) for name in ("train", "val", "test")] == [2, 1, 1]
    assert split == split_blocks(list(reversed(blocks)), seed=42)  # independent of order
    owner = np.full((100, 100), "", dtype=object)
    for name, members in split.items():
        for block in members:
            owner[block.rows[0] : block.rows[1], block.cols[0] : block.cols[1]] = name
    rng = np.random.default_rng(0)
    for name, members in split.items():
        for block in members:
            for index in training_indices(prepared_romania.valid.values, prepared_romania.times, SamplingDefaults(), rng, block):
                patch = owner[index.row : index.row + 15, index.col : index.col + 15]
                assert (patch == name).all()
