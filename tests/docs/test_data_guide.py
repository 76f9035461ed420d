"""docs/data.md: every recipe runs as written, on real data written out in the layout it reads.

The guide's bash and python blocks run in order in one folder that holds, under the names the guide uses,
12 dates of the real Earth Engine export (`fresno/`), the real Romania cube as Earth Search COGs
and a saved search (`cogs/`, `search.json`) and as openEO NetCDF (`openeo.nc`), and the real
Poland S1 series as HyP3-like RTC files (`s1_rtc/`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest

from cae.cube.io import open_cube
from cae_testing import SHARED_DATA
from romania_layouts import EARTH_SEARCH, openeo_netcdf, romania_crop, stac_items, write_cogs

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "data.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def guide_commands() -> list[str]:
    return [text for language, text in _FENCE.findall(GUIDE.read_text()) if language == "bash"]


def guide_script() -> str:
    """The bash and python blocks, in the guide's order, as one bash script (`console` blocks
    show commands on data the reader has and are not run)."""
    parts = {"bash": "{}", "python": "python - <<'CAE_DATA_GUIDE'\n{}CAE_DATA_GUIDE"}
    return "\n".join(parts[language].format(text) for language, text in _FENCE.findall(GUIDE.read_text())
                     if language in parts)


def test_every_recipe_is_a_command_of_cae():
    commands = guide_commands()
    assert len(commands) == 8  # five layouts, co-registration, a cloud mask and its use
    assert all(command.startswith("cae cube") for command in commands)


@pytest.mark.skipif(not (SHARED_DATA / "s2" / "california_fresno_gee").exists(), reason="the real data in ../shared/data is not present")
def test_the_recipes_run_on_the_layouts_they_name(tmp_path, romania_s2, poland_s1):
    fresno = tmp_path / "fresno"
    fresno.mkdir()
    for path in sorted((SHARED_DATA / "s2" / "california_fresno_gee").glob("*.tif"))[:12]:
        (fresno / path.name).symlink_to(path)
    romania = romania_crop(romania_s2, dates=24, size=32)
    cogs = write_cogs(romania, tmp_path / "cogs", EARTH_SEARCH, "05.00")
    pystac.ItemCollection(stac_items(romania, cogs, tmp_path, "05.00", raster_offset=-0.1)).save_object(str(tmp_path / "search.json"))
    openeo_netcdf(romania, tmp_path / "openeo.nc")
    (tmp_path / "s1_rtc").mkdir()
    series = 10 ** (poland_s1["VH"].isel(time=slice(0, 14)) / 10)
    del series.attrs["units"]  # linear power, untagged as such providers write it (xarray kept "dB")
    for date in series["time"].values:
        series.sel(time=date).rio.to_raster(tmp_path / "s1_rtc" / f"S1A_IW_{pd.Timestamp(date):%Y%m%dT%H%M%S}_DVP_RTC20_G_gpuned_5F2A_VH.tif")

    script = guide_script()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "Traceback" not in result.stderr and "Warning 1" not in result.stderr  # libtiff notes on the EE export

    assert open_cube(tmp_path / "fresno.zarr").attrs["bands"] == ["B02", "B03", "B04", "B08"]
    for name in ("cogs", "search", "openeo"):
        cube = open_cube(tmp_path / f"{name}.zarr")
        assert cube.attrs["bands"] == romania.attrs["bands"], name
        np.testing.assert_allclose(cube["B04"].values, romania["B04"].values, atol=0.5e-4 + 1e-6, equal_nan=True)
    s1 = open_cube(tmp_path / "s1_rtc.zarr")
    assert list(s1.data_vars) == ["VH"]
    np.testing.assert_allclose(s1["VH"].values, series.values, rtol=1e-6)
