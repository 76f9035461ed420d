"""`cae modalities`: which sensors are installed, from which package."""

from rich.table import Table

from cae.cli.console import console


def list_modalities() -> None:
    """List the installed modality plugins: name, bands, package and version.

    Bands in [dim]dim[/dim] are optional: used when a cube has them.
    """
    from cae.plugins import installed_modalities

    registry = installed_modalities()
    table = Table(title="Installed modalities")
    for column in ("name", "title", "bands", "package", "version"):
        table.add_column(column)
    for name, item in sorted(registry.modalities.items()):
        bands = " ".join(f"[dim]{band.name}[/dim]" if band.optional else band.name for band in item.spec.bands)
        table.add_row(name, item.spec.title, bands, item.package, item.version)
    console.print(table)
    for failure in registry.failures:
        console.print(f"[yellow]skipped plugin {failure.plugin}:[/yellow] {failure.reason}", highlight=False)
