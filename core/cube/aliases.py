"""Band names as sources spell them -> the names a modality plugin declares.

Catalogues and exports name the same band differently: Earth Search `red`, Earth Engine `B4`,
Planetary Computer `B04`, openEO `b04`. Each plugin lists the other names of its bands
(`Band.aliases`); this module is the one place that maps a dataset's variables onto them, so
every command that opens a cube and every reader accepts the same names.
"""

from __future__ import annotations

from collections.abc import Iterable

import xarray as xr

from cae.errors import InputError
from cae.plugins.contract import ModalitySpec


def known_names(spec: ModalitySpec) -> dict[str, str]:
    """Every accepted spelling (lower case) of the spec's bands and auxiliary variables -> its name."""
    names: dict[str, str] = {}
    for band in (*spec.bands, *spec.auxiliary):
        for spelling in (band.name, *band.aliases):
            names[spelling.lower()] = band.name
    return names


def canonical_names(variables: Iterable[str], spec: ModalitySpec) -> dict[str, str]:
    """Each variable that names a band of `spec` (exactly, by alias, in any case) -> the band.

    Variables naming no band are left out. Two variables naming one band (`B04` and `red`)
    are refused: which one holds the band is the user's call, not cae's.
    """
    known = known_names(spec)
    mapping = {str(name): known[str(name).lower()] for name in variables if str(name).lower() in known}
    claimed: dict[str, list[str]] = {}
    for variable, band in mapping.items():
        claimed.setdefault(band, []).append(variable)
    clashes = [f"{' and '.join(sorted(found))} both name {band}" for band, found in claimed.items() if len(found) > 1]
    if clashes:
        raise InputError(
            f"ambiguous band names for {spec.name}: {'; '.join(clashes)}; keep one variable per band "
            "(drop or rename the others)"
        )
    return mapping


def with_canonical_names(cube: xr.Dataset, spec: ModalitySpec) -> xr.Dataset:
    """`cube` with every band variable renamed to the name `spec` declares; nothing else changes."""
    renames = {variable: band for variable, band in canonical_names(cube.data_vars, spec).items() if variable != band}
    return cube.rename_vars(renames) if renames else cube
