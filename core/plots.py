"""Figures: matplotlib on its non-interactive backend, saved atomically."""

from __future__ import annotations

from pathlib import Path

from cae.atomic import staged


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path, **options) -> None:
    """Save `figure` as `path` (format from its suffix) and close it."""
    with staged(Path(path)) as staging:
        figure.savefig(staging, format=Path(path).suffix.lstrip(".") or "png", **options)
    pyplot().close(figure)
