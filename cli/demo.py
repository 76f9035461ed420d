"""`cae demo`: the main job on the bundled real data."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path("cae-demo"),
) -> None:
    """Run cae end to end on the bundled real cubes (Romania S2, Poland S1 VH).

    Builds nothing from the network: the cubes ship with cae. Today the demo validates and
    preprocesses both cubes and shows what a model would see.
    """
    from cae.cli.cube import stack_table
    from cae.cube.stack import load_stack
    from cae.data import DEMO_CUBES, demo_cube_path
    from cae.plugins import installed_modalities

    registry = installed_modalities()
    out.mkdir(parents=True, exist_ok=True)
    for modality in DEMO_CUBES:
        path = demo_cube_path(modality)
        with console.status(f"validating {path.name}"):
            stack = load_stack([path], registry)
        console.print(stack_table(stack))
    console.print(f"demo finished; outputs in [bold]{out}[/bold]")
