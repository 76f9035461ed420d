"""The `cae` command: a thin Typer layer over the library.

Bad input (`cae.errors.InputError`) ends in one red line and exit code 2; anything else is
an internal error, exit code 1. Tracebacks only with `--debug`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cae import __version__
from cae.cli import cube, demo, embed, evaluate, modalities, train
from cae.cli.console import error_console

app = typer.Typer(
    name="cae",
    help="Context-aware autoencoders: Sentinel-1/-2 time series to a compact 10 m latent space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command("modalities")(modalities.list_modalities)
app.add_typer(cube.app, name="cube")
app.command("train")(train.train)
app.command("embed")(embed.embed)
app.add_typer(evaluate.app, name="evaluate")
app.command("demo")(demo.demo)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cae {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """Context-aware autoencoders for Sentinel-1 and Sentinel-2 image time series."""


def run(argv: list[str]) -> int:
    """Run the command line `argv` and return its exit code (what `main` exits with)."""
    from cae.errors import InputError

    debug = "--debug" in argv
    try:
        result = app(args=argv, prog_name="cae", standalone_mode=False)
    except typer.Abort:
        error_console.print("[red]aborted[/red]")
        return 1
    except typer.TyperException as error:  # usage errors: Typer prints them with a hint
        error.show()
        return error.exit_code
    except InputError as error:
        if debug:
            raise
        error_console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        return error.exit_code
    except Exception as error:
        if debug:
            raise
        error_console.print(
            f"[bold red]internal error:[/bold red] {type(error).__name__}: {error} "
            "(run again with --debug for the traceback, and please report it)",
            highlight=False,
        )
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))
