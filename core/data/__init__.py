"""Real demo data bundled with cae, so the demo and tests run without network or ../shared.

See README.md in this folder for what each cube is and how to credit it.
"""

from importlib.resources import files
from pathlib import Path

DEMO_CUBES = {
    "s2": "romania_s2.zarr",
    "s1": "poland_s1.zarr",
}


def demo_cube_path(modality: str) -> Path:
    """Path of the bundled real cube of `modality` ('s2': Romania, 's1': Poland)."""
    if modality not in DEMO_CUBES:
        raise KeyError(f"no bundled demo cube for {modality!r}; there are: {', '.join(DEMO_CUBES)}")
    return Path(str(files("cae.data") / "demo" / DEMO_CUBES[modality]))


#: The bundled label of the Romania cube: Copernicus HRL Tree Cover Density 2018, 20 m.
DEMO_LABEL = "romania_tree_cover_density_2018.tif"


def demo_label_path() -> Path:
    """Path of the bundled tree cover density raster (%, 20 m) over the Romania cube."""
    return Path(str(files("cae.data") / "demo" / DEMO_LABEL))


def demo_model_path() -> Path:
    """Folder of the demo's trained model shipped with cae (`s2/`, `fusion/`, RECIPE.md).

    Written by `scripts/train_demo_model.py`; `cae demo` copies it into its runs folder.
    """
    return Path(str(files("cae.data") / "demo" / "model"))
