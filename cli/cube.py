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
    inputs: Annotated[list[Path], typer.Argument(help="Sources of one area: files, folders or a glob of GeoTIFFs, a STAC item collection (.json), a zarr/NetCDF dataset, or the sensor's own files (L2A NetCDF, SIG0 GeoTIFFs).")],
    modality: ModalityOption,
    out: OutOption,
    bands: Annotated[str | None, typer.Option("--bands", help="Band names in file order, comma-separated (e.g. B02,B03,B04,B08), where the files do not name them.")] = None,
    date_pattern: Annotated[str | None, typer.Option("--date-pattern", help="Regular expression finding the date in each file name: its group date, or year, month and day, or its first group.")] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="value = stored x scale + offset, overriding what the source declares.")] = None,
    offset: Annotated[float | None, typer.Option("--offset", help="Added after --scale (e.g. -0.1 for L2A baseline 04.00+ with --scale 0.0001).")] = None,
    units: Annotated[str | None, typer.Option("--units", help="The bands' unit where the source does not say (S1: dB or linear).")] = None,
    like: Annotated[Path | None, typer.Option("--like", help="A cube whose grid (CRS, transform, shape) the new cube takes, e.g. the S2 cube for S1.")] = None,
    resampling: Annotated[str, typer.Option("--resampling", help="How continuous bands are resampled onto --like: bilinear (dB bands as linear power), nearest, cubic or average; classes and masks always nearest.")] = "bilinear",
    cloud_mask: Annotated[str, typer.Option("--cloud-mask", help="auto: SCL where the cube has it, else the temporal outlier test; scl; temporal; none (add no mask).")] = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Turn the files of one area into a cube (zarr), then validate it.

    The reader follows the sources (docs/data.md): a STAC item collection (odc-stac), a zarr or
    NetCDF dataset in another tool's layout, GeoTIFF/COG files (one per date, or per date and
    band; dates from the file names or tags), or the plugin's own files: s2 L2A NetCDF at
    10/20/60 m (merged onto the finest grid), s1 SIG0 GeoTIFF scenes (torchgeo). Band names
    follow the plugin's aliases (blue, B2, ...); digital numbers are scaled as the source
    declares or as --scale/--offset say, and refused where neither does. An optical cube
    without SCL gets clouds and shadows flagged by a temporal outlier test (--cloud-mask).
    --like puts the cube on the grid of another (rioxarray), recorded in its attribute
    `coregistration`.
    """
    from cae.cube.build import CLOUD_MASK_CHOICES, build_cube
    from cae.cube.coregister import RESAMPLING_METHODS
    from cae.cube.io import write_cube
    from cae.cube.readers import ReadOptions
    from cae.errors import InputError
    from cae.outputs import check_apart, check_writable
    from cae.plugins.manager import installed_modalities

    check_apart({"--out": out}, [*inputs, *([like] if like is not None else [])])
    if resampling not in RESAMPLING_METHODS:
        raise typer.BadParameter(f"{resampling!r} is not one of {', '.join(RESAMPLING_METHODS)}", param_hint="--resampling")
    if cloud_mask not in CLOUD_MASK_CHOICES:
        raise typer.BadParameter(f"{cloud_mask!r} is not one of {', '.join(CLOUD_MASK_CHOICES)}", param_hint="--cloud-mask")
    spec = installed_modalities().spec(modality)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    check_writable(out.parent)
    names = tuple(name.strip() for name in bands.split(",")) if bands is not None else None
    if names is not None and not all(names):
        raise InputError(f"--bands {bands!r} holds an empty name; give names separated by commas, e.g. B02,B03,B04,B08")
    options = ReadOptions(bands=names, date_pattern=date_pattern, scale=scale, offset=offset, units=units)
    with console.status(f"reading {len(inputs)} source(s)"):
        built = build_cube(inputs, spec, options, like=like, resampling=resampling, cloud_mask=cloud_mask)
    with console.status(f"writing {out}"):
        write_cube(built, out, overwrite=overwrite)
    console.print(f"wrote [bold]{out}[/bold] ({built.attrs.get('reader', 'sensor')} reader, {built.sizes['time']} dates)")
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
    from cae.geometry import N_DATES, PATCH_SIZE
    from cae.plugins.manager import installed_modalities

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
