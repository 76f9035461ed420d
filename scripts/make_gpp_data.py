"""Build the bundled flux-tower data (core/data/gpp/) from the real data in ../shared/data/gpp.

    python scripts/make_gpp_data.py [--shared ../shared/data]

For each of the 39 Warm Winter 2020 sites it writes `<SITE>.csv.gz`: one row per day
2015-2020 with GPP_NT_VUT_REF in g C m-2 d-1 (the source's kg C m-2 d-1 x 1000, NaN where the
source is NaN, i.e. NEE_VUT_REF_QC <= 0.75) and the site's daily ERA-Interim meteorology
(the source's -9999 as NaN). `sites.csv` lists the sites with their coordinates, name and
IGBP class. Re-run it only if the source data change; the files are committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from cae.evaluation.gpp.flux import METEO_VARIABLES

OUT = Path(__file__).resolve().parents[1] / "core" / "data" / "gpp"
#: kg C m-2 d-1 -> g C m-2 d-1; the source has 5 decimals in g C, kept exactly.
KG_TO_G = 1000.0
GPP_DECIMALS = 5
MISSING = -9999.0


def site_table(shared: Path, gpp_files: list[Path]) -> pd.DataFrame:
    """One row per site: coordinates (precise ones from the FLUXNET site list where it has
    the site, else the GPP file's, which are rounded to 0.01 degrees), name and IGBP class."""
    info = pd.read_csv(shared / "fluxnet_site_info_all.csv").set_index("fluxnetid")
    rows = []
    for path in gpp_files:
        with xr.open_dataset(path) as series:
            site = str(series["station_name"].values)
            latitude, longitude = float(series["lat"]), float(series["lon"])
        listed = site in info.index
        rows.append({
            "site": site,
            "latitude": round(float(info.loc[site, "latitude"]) if listed else latitude, 6),
            "longitude": round(float(info.loc[site, "longitude"]) if listed else longitude, 6),
            "coordinates": "FLUXNET site list" if listed else "GPP file, rounded to 0.01 deg",
            "name": info.loc[site, "sitename"] if listed else "",
            "igbp": info.loc[site, "igbp_land_use"] if listed else "",
        })
    return pd.DataFrame(rows).sort_values("site").reset_index(drop=True)


def site_days(gpp_file: Path, meteo_file: Path) -> pd.DataFrame:
    """Daily GPP (g C m-2 d-1) and meteorology of one site, 2015-2020."""
    with xr.open_dataset(gpp_file) as series:
        gpp = series["gpp"].to_series()
    meteo = pd.read_csv(meteo_file)
    meteo.index = pd.to_datetime(meteo["TIMESTAMP"].astype(str), format="%Y%m%d")
    meteo = meteo[list(METEO_VARIABLES)].replace(MISSING, np.nan)
    days = pd.date_range(meteo.index[0], meteo.index[-1], freq="D")
    table = pd.DataFrame(index=days)
    table["GPP"] = (gpp.reindex(days) * KG_TO_G).round(GPP_DECIMALS)
    table = table.join(meteo.reindex(days))
    table.index.name = "date"
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    source = parser.parse_args().shared / "gpp"
    gpp_files = sorted((source / "daily").glob("gpp_*_FLUXNET2015.nc"))
    sites = site_table(source, gpp_files)
    OUT.mkdir(parents=True, exist_ok=True)
    by_site = {}
    for path in gpp_files:
        with xr.open_dataset(path) as series:
            by_site[str(series["station_name"].values)] = path
    for site in sites["site"]:
        table = site_days(by_site[site], source / "meteo" / f"{site}_ERAI_DD_2015-2020.csv")
        table.to_csv(OUT / f"{site}.csv.gz", compression={"method": "gzip", "mtime": 0})
    sites.to_csv(OUT / "sites.csv", index=False)
    print(f"wrote {len(sites)} sites to {OUT}: {', '.join(sites['site'])}")


if __name__ == "__main__":
    main()
