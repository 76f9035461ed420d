"""The Rich consoles every command prints to: results to stdout, errors to stderr."""

from rich.console import Console

console = Console()
error_console = Console(stderr=True)
