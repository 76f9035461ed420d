"""Flux-tower data: daily GPP and meteorology per site, in the folder layout `--flux` reads.

A flux folder holds `sites.csv` (columns `site`, `latitude`, `longitude`, optionally `name`
and `igbp`) and one `<site>.csv` or `<site>.csv.gz` per site, one row per day: `date`,
`GPP` in g C m-2 d-1 (empty where not observed or of poor quality) and any meteorology
columns. cae bundles such a folder (`bundled_flux_dir`): 39 European Warm Winter 2020
sites, 2015-2020, with ERA-Interim meteorology (see `cae/data/README.md` for its source).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from cae.errors import InputError

SITES_FILE = "sites.csv"
GPP_COLUMN = "GPP"
#: Daily ERA-Interim variables of the bundled data: air temperature (deg C), incoming
#: short- and long-wave radiation (W m-2), vapour pressure deficit (hPa), air pressure
#: (kPa), precipitation (mm) and wind speed (m s-1).
METEO_VARIABLES = ("TA_ERA", "SW_IN_ERA", "LW_IN_ERA", "VPD_ERA", "PA_ERA", "P_ERA", "WS_ERA")


def bundled_flux_dir() -> Path:
    """The flux folder shipped with cae (real GPP and meteorology of 39 sites)."""
    return Path(str(files("cae.data") / "gpp"))


@dataclass(frozen=True)
class FluxSite:
    """One tower: where it stands and its daily series (index: consecutive days)."""

    site: str
    latitude: float
    longitude: float
    days: pd.DataFrame

    @property
    def gpp(self) -> pd.Series:
        return self.days[GPP_COLUMN]


def read_sites(flux_dir: Path) -> pd.DataFrame:
    """The site list of a flux folder, indexed by site ID."""
    path = Path(flux_dir) / SITES_FILE
    if not path.exists():
        raise InputError(f"{flux_dir} is not a flux folder: {SITES_FILE} is missing (see `cae evaluate gpp --help`)")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [column for column in ("site", "latitude", "longitude") if column not in table.columns]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)}")
    if table["site"].duplicated().any():
        raise InputError(f"{path} lists a site twice: {', '.join(table['site'][table['site'].duplicated()])}")
    return table.set_index("site")


def read_site(flux_dir: Path, site: str, sites: pd.DataFrame | None = None) -> FluxSite:
    """One site's daily GPP and meteorology, on consecutive days from its first to last row."""
    flux_dir = Path(flux_dir)
    sites = read_sites(flux_dir) if sites is None else sites
    if site not in sites.index:
        raise InputError(f"site {site!r} is not in {flux_dir / SITES_FILE}; sites there: {', '.join(sites.index)}")
    candidates = [flux_dir / f"{site}.csv.gz", flux_dir / f"{site}.csv"]
    path = next((path for path in candidates if path.exists()), None)
    if path is None:
        raise InputError(f"no daily table for site {site} in {flux_dir} (expected {site}.csv.gz or {site}.csv)")
    table = pd.read_csv(path)
    if "date" not in table.columns or GPP_COLUMN not in table.columns:
        raise InputError(f"{path} needs the columns `date` and `{GPP_COLUMN}`")
    table.index = pd.DatetimeIndex(pd.to_datetime(table.pop("date")), name="date").normalize()
    if table.index.duplicated().any():
        raise InputError(f"{path} has a date twice: {table.index[table.index.duplicated()][0].date()}")
    table = table.sort_index().astype(np.float64)
    days = table.reindex(pd.date_range(table.index[0], table.index[-1], freq="D", name="date"))
    row = sites.loc[site]
    return FluxSite(site, float(row["latitude"]), float(row["longitude"]), days)
