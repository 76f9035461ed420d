"""Several cubes of one place -> prepared modalities on one grid and one time axis."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cae.cube.aliases import canonical_names, with_canonical_names
from cae.cube.io import open_cube
from cae.cube.prepare import align_to_dates, prepare_modality
from cae.cube.validate import check_same_grid, variables_found
from cae.errors import InputError
from cae.plugins.contract import PreparedModality
from cae.plugins.manager import ModalityRegistry


@dataclass(frozen=True)
class ModalityStack:
    """Prepared modalities of one place, all on the dates of `time_axis`."""

    time_axis: str
    modalities: dict[str, PreparedModality]

    @property
    def times(self) -> np.ndarray:
        return self.modalities[self.time_axis].times

    @property
    def reference(self) -> PreparedModality:
        return self.modalities[self.time_axis]


def modality_of(cube, registry: ModalityRegistry, source: str) -> str:
    """Which installed modality a cube holds: its `modality` attribute, else its bands
    (by their names or aliases).

    A derived modality shares its source's bands, so it never claims a cube by them.
    """
    declared = cube.attrs.get("modality")
    if declared is not None:
        registry.get(declared)
        return declared
    matches = [
        name
        for name, item in registry.modalities.items()
        if item.spec.derived_from is None and item.spec.bands_in(list(canonical_names(cube.data_vars, item.spec).values()))
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(f"{source}: it holds bands of {' and '.join(matches)}; set the cube attribute `modality`")
    raise InputError(f"{source}: {layout_found(cube, registry)}")


def layout_found(cube, registry: ModalityRegistry) -> str:
    """What a cube that no modality recognises holds, and what cae expects."""
    originals = [item.spec for item in registry.modalities.values() if item.spec.derived_from is None]
    expected = "; ".join(f"{spec.name}: {', '.join(spec.band_names)}" for spec in originals)
    found = variables_found(cube, [band for spec in originals for band in spec.band_names])
    return (f"no band of an installed modality ({found}). A cube holds one variable per band, dims (time, y, x), "
            f"named as its modality names them ({expected})")


def load_stack(
    paths: Sequence[str | os.PathLike],
    registry: ModalityRegistry,
    *,
    derived: Sequence[str] = (),
    mask_variable: str | None = None,
    load: bool = True,
) -> ModalityStack:
    """Open, validate and prepare the cubes of one place; align them to one time axis.

    One cube stands alone on its own dates. Several cubes need exactly one time-axis
    modality (e.g. S2); the others must lie on its grid and are aligned to its dates.
    Each modality in `derived` (see `ModalitySpec.derived_from`) is read from the cube of
    its source modality too, and left out when no such cube is given.
    `load` False keeps the arrays lazy (see `prepare_modality`).
    """
    cubes = {}
    for path in paths:
        cube = open_cube(path)
        name = modality_of(cube, registry, str(path))
        cube = with_canonical_names(cube, registry.spec(name))  # derived modalities read it too
        if name in cubes:
            raise InputError(f"two cubes of modality {name}: {cubes[name][1]} and {path}; give one per place")
        cubes[name] = (cube, Path(path))
    for name in derived:
        source = registry.spec(name).derived_from
        if source is None:
            raise InputError(f"{name} is not derived from another modality; give a cube of {name}")
        if source in cubes and name not in cubes:
            cubes[name] = cubes[source]
    if len(cubes) == 1:
        axis = next(iter(cubes))
    else:
        axes = [name for name in cubes if registry.spec(name).defines_time_axis]
        if len(axes) != 1:
            raise InputError(
                f"cubes of {', '.join(cubes)} need exactly one time-axis modality "
                f"(installed: {', '.join(registry.time_axis_modalities()) or 'none'}); found {len(axes)}"
            )
        axis = axes[0]
        for name in cubes:
            if name != axis:
                check_same_grid(cubes[axis][0], cubes[name][0], (axis, name))
    prepared = {
        name: prepare_modality(cube, registry.spec(name), mask_variable=mask_variable, source=str(path), load=load)
        for name, (cube, path) in cubes.items()
    }
    aligned = {
        name: item
        if name == axis
        else align_to_dates(item, prepared[axis].times, registry.spec(name).alignment_tolerance_days)
        for name, item in prepared.items()
    }
    return ModalityStack(axis, aligned)
