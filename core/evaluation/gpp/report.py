"""What `cae evaluate gpp` writes: report (JSON, Markdown), predictions, inputs, figures.

Everything goes to one folder that appears under its final name only when complete. Every
figure draws a model in its one colour (`COLOURS`), whatever else the figure shows, so a
reader can compare figures at a glance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cae import __version__
from cae.evaluation.gpp.features import BANDS, FEATURES, INDICES
from cae.evaluation.gpp.evaluate import CLIMATOLOGY, DESCRIPTIONS, FEATURES_METEO, METEO, UNITS, GppResult
from cae.evaluation.gpp.metrics import METRICS
from cae.evaluation.output import markdown_table, number, staged_folder
from cae.plots import pyplot, save_figure

REPORT_JSON, REPORT_MARKDOWN = "gpp_report.json", "gpp_report.md"
PREDICTIONS, INPUTS = "predictions.csv", "inputs.csv"
KIND = "cae-gpp-evaluation"
#: The colour of each model in every figure (matplotlib colour names). Observed GPP is black.
COLOURS = {
    FEATURES: "tab:blue",
    FEATURES_METEO: "tab:purple",
    BANDS: "tab:orange",
    INDICES: "tab:green",
    METEO: "tab:red",
    CLIMATOLOGY: "dimgray",  # the floor, in grey; dark enough to shade a density plot
}


def report_document(result: GppResult, flux_dir: Path, sources: list[str]) -> dict[str, Any]:
    from cae.checkpoint import git_revision

    return {
        "kind": KIND,
        "units": UNITS,
        "flux": str(flux_dir),
        "feature_sources": sources,
        "config": result.config.to_dict(),
        "sites": result.sites,
        "skipped_sites": result.skipped,
        "inputs": result.inputs,
        "models": {name: DESCRIPTIONS[name] for name in result.models},
        "splits": result.splits,
        "cae_version": __version__,
        "git_revision": git_revision(),
    }


def markdown(document: dict[str, Any]) -> str:
    """The report for people: overall scores per split, then every site."""
    models = list(document["models"])
    lines = [
        "# GPP evaluation",
        "",
        f"GPP in {document['units']} on the last day of {document['config']['window_days']}-day windows; "
        f"flux data: `{document['flux']}`; head `{document['config']['head']['name']}`.",
        "",
        "Models: " + "; ".join(f"**{name}**: {text}" for name, text in document["models"].items()) + ".",
        "",
    ]
    if document["skipped_sites"]:
        lines += ["Skipped sites: " + "; ".join(f"{site} ({why})" for site, why in document["skipped_sites"].items()), ""]
    for split, content in document["splits"].items():
        scores = content["scores"]
        tested = sorted({site for fold in content["folds"] for site in fold["test_sites"]})
        lines += [f"## {split}", "", f"{len(content['folds'])} fold(s), {len(tested)} test site(s).", ""]
        header = ["model", *(metric.upper() if metric != "n" else "n" for metric in METRICS)]
        rows = [
            [name, *(str(scores[name]["overall"][m]) if m == "n" else number(scores[name]["overall"][m]) for m in METRICS)]
            for name in models
        ]
        lines += ["Overall (all test days pooled):", "", markdown_table(header, rows), ""]
        lines += [training_line(content["folds"]), ""]
        header = ["site", "n", *(f"{name} RMSE / R2 / NSE" for name in models)]
        rows = [
            [site, str(scores[models[0]][site]["n"]),
             *(" / ".join(number(scores[name][site][m]) for m in ("rmse", "r2", "nse")) for name in models)]
            for site in tested
        ]
        lines += ["Per site:", "", markdown_table(header, rows), ""]
    return "\n".join(lines)


def training_line(folds: list[dict[str, Any]]) -> str:
    """Optimiser steps each input set's heads ran over the folds, and the steps whose weights were kept."""
    def span(values: list[int]) -> str:
        return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"

    names = list(folds[0]["heads"])
    parts = [f"{name} {span([f['heads'][name]['steps'] for f in folds])} "
             f"(kept {span([f['heads'][name]['best_step'] for f in folds])})" for name in names]
    return "Head training, optimiser steps per fold: " + "; ".join(parts) + "."


def date_axis(axis: Any) -> None:
    """A few date ticks on a series axis, the year written once: full dates over months to
    years of a panel 4.6 inches wide overlap."""
    from matplotlib import dates

    locator = dates.AutoDateLocator(minticks=3, maxticks=7)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))


def plot_series(predictions: pd.DataFrame, models: list[str], title: str, path: Path) -> None:
    """Observed GPP (dots) and each model's predictions (lines), one panel per site."""
    plt = pyplot()
    sites = sorted(predictions["site"].unique())
    columns = min(len(sites), 4)
    rows = math.ceil(len(sites) / columns)
    margin = 0.9  # inches above the panels for the title and the legend
    height = 2.6 * rows + margin
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, height), dpi=80, squeeze=False, sharey=True)
    for axis, site in zip(axes.flat, sites):
        days = predictions[predictions["site"] == site].sort_values("date")
        axis.scatter(days["date"], days["observed"], s=2, color="black", label="observed")
        for name in models:
            # Breaks in the record (days without a target) break the line instead of bridging them.
            series = days.set_index("date")[name].asfreq("D")
            axis.plot(series.index, series.to_numpy(), linewidth=0.9, color=COLOURS[name], label=name)
        date_axis(axis)
        axis.set_title(site, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(sites):]:
        axis.set_visible(False)
    axes.flat[0].set_ylabel(f"GPP ({UNITS})", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.suptitle(title, fontsize=11, y=1 - 0.15 / height)
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / height), ncol=len(labels),
                  fontsize=9, markerscale=4, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - margin / height))
    save_figure(figure, path)


def plot_scatter(predictions: pd.DataFrame, models: list[str], scores: dict[str, Any], title: str, path: Path) -> None:
    """Predicted against observed GPP of all test days, one panel per model, with the 1:1 line.

    Each panel's density runs from light grey to the model's colour, which also colours its title.
    """
    from matplotlib.colors import LinearSegmentedColormap

    plt = pyplot()
    figure, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4.2), dpi=90, squeeze=False)
    values = predictions[["observed", *models]].to_numpy()
    low, high = np.nanmin(values), np.nanmax(values)
    for axis, name in zip(axes.flat, models):
        density = LinearSegmentedColormap.from_list(name, ["#e8e8e8", COLOURS[name]])
        axis.hexbin(predictions["observed"], predictions[name], gridsize=60, bins="log", cmap=density,
                    extent=(low, high, low, high), mincnt=1)
        axis.plot([low, high], [low, high], color="black", linewidth=0.8)
        overall = scores[name]["overall"]
        axis.set_title(f"{name}\nRMSE {number(overall['rmse'], 2)}  R2 {number(overall['r2'], 2)}  NSE {number(overall['nse'], 2)}",
                       fontsize=9, color=COLOURS[name])
        axis.set_xlabel(f"observed GPP ({UNITS})", fontsize=8)
        axis.set_ylabel("predicted", fontsize=8)
        axis.set_xlim(low, high)
        axis.set_ylim(low, high)
        axis.set_aspect("equal")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    save_figure(figure, path)


def inputs_table(result: GppResult) -> pd.DataFrame:
    """The per-date inputs each site was given (footprint means or table rows), long format."""
    frames = []
    for site, sets in result.site_inputs.items():
        for name, table in sets.items():
            frame = table.copy()
            frame.index.name = "date"
            frames.append(frame.reset_index().melt(id_vars="date", var_name="input", value_name="value")
                          .assign(site=site, input_set=name))
    return pd.concat(frames, ignore_index=True)[["site", "input_set", "input", "date", "value"]]


def write_gpp_outputs(
    result: GppResult, flux_dir: Path, sources: list[str], out: Path, overwrite: bool, inputs: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Write the report, predictions, inputs and figures into `out` (never over `inputs`)."""
    document = plain(report_document(result, flux_dir, sources))
    with staged_folder(out, overwrite, inputs) as folder:
        (folder / REPORT_JSON).write_text(json.dumps(document, indent=2) + "\n")
        (folder / REPORT_MARKDOWN).write_text(markdown(document) + "\n")
        result.predictions.to_csv(folder / PREDICTIONS, index=False, float_format="%.5f")
        if result.site_inputs:
            inputs_table(result).to_csv(folder / INPUTS, index=False, float_format="%.6g")
        for split, content in result.splits.items():
            rows = result.predictions[result.predictions["split"] == split]
            label = f"{split} ({len(content['folds'])} fold(s)): GPP, {', '.join(result.models)}"
            plot_series(rows, result.models, label, folder / f"series_{split}.png")
            plot_scatter(rows, result.models, content["scores"], label, folder / f"scatter_{split}.png")
    return document


def plain(value: Any) -> Any:
    """`value` with NaN as None (JSON has no NaN), numpy scalars, tuples and paths as JSON types."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
