"""`cae export`: dates of an embedding store as Cloud-Optimized GeoTIFFs for a GIS."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console
from cae.cli.options import OverwriteOption


def export(
    store: Annotated[Path, typer.Argument(help="Store written by `cae embed`, e.g. embedding.zarr.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the GeoTIFFs (one per date).")],
    date: Annotated[
        str | None, typer.Option("--date", help="Export the store's date on this day, YYYY-MM-DD (whatever its hour).")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="Export the dates in a year (2018), years (2017-2019) or START/END dates."),
    ] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Export the int8 copy (a quarter of the size; GDAL scale and offset per band).")
    ] = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Write Cloud-Optimized GeoTIFFs of the embedding, one per date (all dates without
    --date or --period): band i is feature emb_<i-1> (the band descriptions say so), on the
    store's grid and CRS; nodata where a pixel-date has no embedding (NaN; -128 with --int8).
    The folder appears only when every file is written.
    """
    from cae.embedding.export import export_geotiffs

    with console.status(f"writing GeoTIFFs into {out}"):
        paths = export_geotiffs(store, out, date, period, int8, overwrite)
    console.print(f"wrote {len(paths)} GeoTIFF(s) into [bold]{out}[/bold]: {paths[0].name}"
                  + (f" .. {paths[-1].name}" if len(paths) > 1 else ""))
