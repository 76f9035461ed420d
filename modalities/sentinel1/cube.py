"""Building a Sentinel-1 cube from sigma0 GeoTIFF scenes, read through torchgeo.

The scenes follow the TU Wien / Equi7Grid naming
`SIG0_<YYYYMMDD>T<hhmmss>__<VV|VH>_<orbit>_<tile>_..._.tif`, one polarisation per file,
int16 = dB x 10 with no-data -9999. One acquisition date is often split over several slices
(and re-processed versions); the slices of a date are merged by the maximum of their valid
pixels, which is the only value present where slices do not overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.cube.grid import with_crs
from cae.errors import InputError
from cae.plugins.contract import ModalitySpec

#: Files store dB x 10 as integers.
DB_SCALE = 0.1
NO_DATA = -9999


def _scene_dataset(paths: Sequence[Path], polarisation: str):
    """A torchgeo RasterDataset over the scenes of one polarisation."""
    from torchgeo.datasets import RasterDataset

    class SigmaNoughtScenes(RasterDataset):
        filename_glob = f"SIG0_*__{polarisation}_*.tif"
        filename_regex = r"^SIG0_(?P<date>\d{8}T\d{6})__(?P<band>VV|VH)_"
        date_format = "%Y%m%dT%H%M%S"
        all_bands = ("VV", "VH")
        separate_files = True

        @property
        def dtype(self):
            import torch

            return torch.float32

        @property
        def resampling(self):
            # Scenes are read on their own grid; nearest keeps every value as measured.
            from rasterio.enums import Resampling

            return Resampling.nearest

    return SigmaNoughtScenes([str(path) for path in paths], bands=[polarisation])


def build_from_geotiffs(paths: Sequence[Path], spec: ModalitySpec) -> xr.Dataset:
    """Scenes (files or folders, searched recursively) -> cube (time, y, x) of VV/VH in dB."""
    if not paths:
        raise InputError("no input files or folders given")
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing:
        raise InputError(f"not found: {', '.join(missing)}")
    from torchgeo.datasets import DatasetNotFoundError

    datasets = {}
    for polarisation in spec.band_names:
        try:
            datasets[polarisation] = _scene_dataset(paths, polarisation)
        except DatasetNotFoundError:  # no scene of this polarisation: use the others
            continue
    if not datasets:
        raise InputError(f"no SIG0_*__VV_*.tif or SIG0_*__VH_*.tif scene under {', '.join(map(str, paths))}")
    reference = next(iter(datasets.values()))
    x_bounds, y_bounds, _ = reference.bounds
    resolution = float(reference.res[0])
    x = np.arange(x_bounds.start + resolution / 2, x_bounds.stop, resolution)
    y = np.arange(y_bounds.stop - resolution / 2, y_bounds.start, -resolution)
    variables, dates = {}, None
    for polarisation, dataset in datasets.items():
        series = _merge_dates(dataset)
        if dates is None:
            dates = series.index
        elif not series.index.equals(dates):
            raise InputError("VV and VH scenes have different dates; give matching scenes")
        stack = np.stack(series.values).astype("float32")
        variables[polarisation] = (("time", "y", "x"), stack, {"units": "dB", "long_name": f"sigma0 {polarisation}"})
    cube = xr.Dataset(variables, coords={"time": dates.values.astype("datetime64[ns]"), "y": y, "x": x})
    for name in variables:
        cube[name].encoding = {"dtype": "int16", "scale_factor": np.float32(DB_SCALE), "_FillValue": NO_DATA}
    cube = with_crs(cube, reference.crs.to_wkt())
    cube.attrs = {
        "modality": spec.name,
        "bands": list(variables),
        "units": "dB",
        "resolution_m": resolution,
        "merge": "slices of one date merged by the maximum of valid pixels",
        "sources": sorted({Path(path).name for path in reference.index["filepath"]}),
    }
    return cube


def _merge_dates(dataset) -> pd.Series:
    """One (y, x) array in dB per acquisition date: the nan-max of that date's slices."""
    slices: dict[pd.Timestamp, list[np.ndarray]] = {}
    second = pd.Timedelta(seconds=1)
    for interval in dataset.index.index:
        sample = dataset[:, :, interval.left - second : interval.right + second]
        values = sample["image"][0].numpy()
        values = np.where(values == NO_DATA, np.nan, values * DB_SCALE)
        slices.setdefault(pd.Timestamp(interval.left.date()), []).append(values)
    merged = {}
    for date in sorted(slices):
        stack = np.stack(slices[date])
        with np.errstate(invalid="ignore"):
            merged[date] = np.where(np.isnan(stack).all(0), np.nan, np.nanmax(np.nan_to_num(stack, nan=-np.inf), axis=0))
    return pd.Series(merged)
