"""`cae cube build` and `cae cube check`: raw sensor files -> validated cubes."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cae.cli.console import console
from cae.cli.options import MaskVariableOption, ModalityOption, OutOption, OverwriteOption

app = typer.Typer(help="Build cubes from raw sensor files and check them.", no_args_is_help=True)


@app.command("build")
def build(
    inputs: Annotated[list[Path], typer.Argument(help="Raw files or folders of one area (e.g. L2A NetCDF, S1 GeoTIFF scenes).")],
    modality: ModalityOption,
    out: OutOption,
    overwrite: OverwriteOption = False,
) -> None:
    """Turn a sensor's raw files into a cube (zarr), then validate it.

    s2: L2A NetCDF files at 10/20/60 m are merged onto the finest grid (nearest neighbour),
    reflectance = DN / 10000, SCL kept. s1: sigma0 GeoTIFF scenes (SIG0_<date>__<VV|VH>_*.tif,
    read through torchgeo); the slices of one date are merged.
    """
    from cae.checkpoint import check_writable
    from cae.cube.io import write_cube
    from cae.errors import InputError
    from cae.outputs import check_apart
    from cae.plugins import installed_modalities

    check_apart({"--out": out}, inputs)
    registry = installed_modalities()
    spec = registry.spec(modality)
    if spec.build_cube is None:
        raise InputError(f"modality {modality} cannot build cubes from raw files; give a ready cube instead")
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    check_writable(out.parent)
    with console.status(f"reading {len(inputs)} input(s)"):
        built = spec.build_cube(inputs)
    with console.status(f"writing {out}"):
        write_cube(built, out, overwrite=overwrite)
    console.print(f"wrote [bold]{out}[/bold]")
    check([out])


@app.command("check")
def check(
    cubes: Annotated[list[Path], typer.Argument(help="Cubes of one place (zarr or NetCDF), one per modality.")],
    mask_variable: MaskVariableOption = None,
) -> None:
    """Validate cubes and show what a model would see: bands, grid, usable dates.

    With several cubes, the time-axis modality (s2) gives the dates and the others are
    aligned to them; dates where a modality has no acquisition within its tolerance are
    reported as missing.
    """
    from cae.cube.stack import load_stack
    from cae.embedding.coverage import coverage
    from cae.modality import N_DATES, PATCH_SIZE
    from cae.plugins import installed_modalities

    with console.status("validating and preprocessing"):
        stack = load_stack(cubes, installed_modalities(), mask_variable=mask_variable)
    console.print(stack_table(stack))
    with console.status("counting the pixel-dates that can be embedded"):
        covered = coverage(stack.reference.valid)
    console.print(f"With the paper's {PATCH_SIZE} x {PATCH_SIZE} pixel, {N_DATES}-date windows "
                  "(`cae embed --dry-run` counts for the model's own):", highlight=False)
    console.print("\n".join(covered.lines()), highlight=False)


def stack_table(stack) -> Table:
    """One row per prepared modality: what it holds and how much of it is usable."""
    from cae.cube.grid import crs_label, crs_of

    table = Table(title=f"Cubes on the time axis of {stack.time_axis}")
    for column in ("modality", "bands", "grid", "CRS", "dates", "valid pixels", "missing dates"):
        table.add_column(column)
    for name, prepared in stack.modalities.items():
        missing = "-" if prepared.offset_days is None else str(int((~(prepared.offset_days == prepared.offset_days)).sum()))
        table.add_row(
            name,
            " ".join(prepared.bands),
            f"{prepared.values.sizes['y']} x {prepared.values.sizes['x']}",
            crs_label(crs_of(prepared.values)),
            str(prepared.values.sizes["time"]),
            f"{float(prepared.valid.mean()):.1%}",
            missing,
        )
    return table
