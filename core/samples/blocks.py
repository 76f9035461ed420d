"""Spatial blocks: the unit of the train/validation/test split (DESIGN 3).

A cube is cut into square blocks and whole blocks go to one split, so no pixel serves two
splits. Which split a block joins depends on the cube's content, not on its file name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpatialBlock:
    """A square block of one cube's pixels; samples never cross its border.

    `data` identifies the cube's content (not its file name), so which split a block joins
    is a property of the data: the same cube copied under another name splits the same way.
    (Not to be confused with a flux tower, which the GPP evaluation calls a site.)
    """

    cube: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    data: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return f"{self.cube}[{self.rows[0]}:{self.rows[1]}, {self.cols[0]}:{self.cols[1]}]"

    @classmethod
    def parse(cls, name: str) -> SpatialBlock:
        """The block a recorded `name` ('cube.zarr[0:32, 32:64]') stands for."""
        match = re.fullmatch(r"(.*)\[(\d+):(\d+), (\d+):(\d+)\]", name)
        if match is None:
            raise ValueError(f"not a block name: {name!r}")
        cube, *bounds = match.groups()
        rows, cols = (int(bounds[0]), int(bounds[1])), (int(bounds[2]), int(bounds[3]))
        return cls(cube, rows, cols)


def spatial_blocks(cube: str, height: int, width: int, block: int, data: str = "") -> list[SpatialBlock]:
    """Split a cube into square blocks of about `block` pixels (the last ones absorb the rest);
    `data` identifies the cube's content (`SpatialBlock.data`)."""
    def edges(size: int) -> list[tuple[int, int]]:
        count = max(size // block, 1)
        bounds = [round(i * size / count) for i in range(count + 1)]
        return list(zip(bounds[:-1], bounds[1:]))

    return [SpatialBlock(cube, rows, cols, data) for rows in edges(height) for cols in edges(width)]


def split_blocks(
    blocks: Sequence[SpatialBlock], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 42
) -> dict[str, list[SpatialBlock]]:
    """Assign whole blocks to train, validation and test, reproducibly.

    Blocks are ordered by a seeded hash of their cube's content and their position (stable
    across runs and machines, independent of the order they are given in and of the cube's
    file name); with three or more blocks every split gets at least one.
    """
    def key(block: SpatialBlock) -> str:
        where = f"{block.data or block.cube}[{block.rows[0]}:{block.rows[1]}, {block.cols[0]}:{block.cols[1]}]"
        return hashlib.sha256(f"{seed}:{where}".encode()).hexdigest()

    ordered = sorted(blocks, key=key)
    total = len(ordered)
    n_val = max(round(fractions[1] * total), 1) if total >= 3 else 0
    n_test = max(round(fractions[2] * total), 1) if total >= 3 else 0
    n_train = total - n_val - n_test
    return {
        "train": ordered[:n_train],
        "val": ordered[n_train : n_train + n_val],
        "test": ordered[n_train + n_val :],
    }
