"""The `cae` command: a thin Typer layer over the library.

Bad input (`cae.errors.InputError`) and storage faults (disk full, no permission) end in
one red line and exit code 2; anything else is an internal error, exit code 1. Tracebacks only
with `--debug` (which changes no exit code). Deprecation notices that the libraries under cae
raise about each other (Lightning about torch, ...) are not shown: they are for those
libraries' developers, and a user's stderr stays for what cae has to say.
"""

from __future__ import annotations

import errno
import functools
import sys
import traceback
import warnings
from typing import Annotated

import typer

from cae import __version__
from cae.cli import cube, demo, embed, evaluate, export, modalities, train
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
app.command("export")(export.export)
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
    from cae.errors import DataWarning, InputError

    debug = "--debug" in argv
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category, module=_NOT_CAE)
            warnings.filterwarnings("once", category=DataWarning)
            warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
            result = app(args=argv, prog_name="cae", standalone_mode=False)
    except typer.Abort:
        error_console.print("[red]aborted[/red]")
        return 1
    except typer.TyperException as error:  # usage errors: Typer prints them with a hint
        error.show()
        return error.exit_code
    except InputError as error:
        if debug:
            traceback.print_exc()
        error_console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        return error.exit_code
    except Exception as error:
        if debug:
            traceback.print_exc()
        if isinstance(error, OSError) and error.errno in _STORAGE_FAULTS:
            error_console.print(f"[bold red]error:[/bold red] {_storage_fault(error)}", highlight=False)
            return InputError.exit_code
        error_console.print(
            f"[bold red]internal error:[/bold red] {type(error).__name__}: {error} "
            + ("(please report it with the traceback above)" if debug else
               "(run again with --debug for the traceback, and please report it)"),
            highlight=False,
        )
        return 1
    return result if isinstance(result, int) else 0


def _show_warning(otherwise, message, category, filename, lineno, file=None, line=None) -> None:
    """cae's own warnings about the data as one yellow line; any other as `otherwise` shows it."""
    from cae.errors import DataWarning

    if issubclass(category, DataWarning):
        error_console.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False)
    else:
        otherwise(message, category, filename, lineno, file, line)


#: Module names outside cae (a warning's module is matched from its start).
_NOT_CAE = r"(?!cae(\.|$))"

#: Faults of the place files go, not of cae: reported like bad input (exit code 2).
_STORAGE_FAULTS = {
    errno.ENOSPC: "the disk is full; free some space and run the command again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run the command again",
    errno.EACCES: "permission denied; choose a location you may write to",
    errno.EPERM: "operation not permitted; choose a location you may write to",
    errno.EROFS: "the file system is read-only; choose another location",
}


def _storage_fault(error: OSError) -> str:
    """One line: what failed where, and what to do. Writers leave no half-written output."""
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}: {_STORAGE_FAULTS[error.errno]}"


def main() -> None:
    from cae.errors import InputError
    from cae.threads import configure_threads

    try:
        configure_threads()  # a process of its own: torch's threads fitted to the free cores
    except InputError as error:
        from cae.cli.console import error_console

        error_console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        sys.exit(error.exit_code)
    sys.exit(run(sys.argv[1:]))
