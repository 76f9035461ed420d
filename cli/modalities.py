"""`cae modalities`: which sensors are installed, from which package, and which are trained."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cae.cli.console import console


def list_modalities(
    runs: Annotated[Path, typer.Option("--runs", help="Folder of training runs to look for trained encoders in.")] = Path(
        "runs"
    ),
) -> None:
    """List the installed modality plugins: name, bands, package, version, trained encoder.

    Bands in [dim]dim[/dim] are optional: used when a cube has them.
    """
    from cae.checkpoint import find_encoders
    from cae.plugins.manager import installed_modalities

    registry = installed_modalities()
    encoders = find_encoders(runs)
    table = Table(title="Installed modalities")
    for column in ("name", "title", "bands", "package", "version", f"trained encoder in {runs}"):
        table.add_column(column)
    for name, item in sorted(registry.modalities.items()):
        bands = " ".join(f"[dim]{band.name}[/dim]" if band.optional else band.name for band in item.spec.bands)
        trained = str(encoders[name]) if name in encoders else "-"
        table.add_row(name, item.spec.title, bands, item.package, item.version, trained)
    console.print(table)
    for failure in registry.failures:
        console.print(f"[yellow]skipped plugin {failure.plugin}:[/yellow] {failure.reason}", highlight=False)
