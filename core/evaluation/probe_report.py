"""Writing the probes' results: JSON for programs, Markdown for people, figures to look at.

`probe.json` and `probe.md` hold the scores of every feature set and model (label probe)
and of every target (temporal probe); `probe_scatter.png` plots observed against predicted
label values, `probe_map.png` shows the label beside the embedding's and the band
baseline's predictions, and `temporal_series.png` follows NDVI (or the first band) through
the dates of a few held-out pixels, observed and predicted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cae.evaluation.output import markdown_table, number
from cae.plots import pyplot, save_figure
from cae.evaluation.probe import ProbeResult
from cae.evaluation.temporal_probe import TemporalProbeResult

REPORT_JSON, REPORT_MARKDOWN = "probe.json", "probe.md"
#: The baseline the embedding is held against in the figures and the verdict (DESIGN 8).
REFERENCE_BASELINE = "band medians"
#: The model of the figures: the stronger of the two on every real label tried so far.
FIGURE_MODEL = "boosted trees"


def headline_metric(task: str) -> str:
    return "f1_macro" if task == "classification" else "r2"


def best_embedding_set(result: ProbeResult, model: str = FIGURE_MODEL) -> str:
    """The embedding feature set with the best headline score under `model`."""
    metric = headline_metric(result.task)
    candidates = [name for name, fitted in result.scores if fitted == model and name.startswith("embedding")]
    return max(candidates, key=lambda name: result.scores[name, model][metric])


def verdict(result: ProbeResult) -> dict[str, float | bool | str]:
    """The best embedding set against the band-median baseline, both under boosted trees."""
    metric = headline_metric(result.task)
    best = best_embedding_set(result)
    embedding = result.scores[best, FIGURE_MODEL][metric]
    baseline = result.scores[REFERENCE_BASELINE, FIGURE_MODEL][metric]
    return {"metric": metric, "embedding_set": best, "embedding": embedding, "band_medians": baseline,
            "embedding_at_least_bands": bool(embedding >= baseline)}


def probe_document(label: ProbeResult | None, temporal: TemporalProbeResult | None) -> dict:
    document: dict = {}
    if label is not None:
        document["label"] = {
            "task": label.task,
            "label_name": label.label_name,
            **label.details,
            "feature_sizes": label.feature_sizes,
            "scores": [{"features": name, "model": model, **scores} for (name, model), scores in label.scores.items()],
            "verdict": verdict(label),
        }
    if temporal is not None:
        document["temporal"] = {
            **temporal.details,
            "scores": [{"target": target, "model": model, **scores} for (target, model), scores in temporal.scores.items()],
        }
    return document


def probe_markdown(document: dict) -> str:
    parts = ["# Probes of the embedding", ""]
    if "label" in document:
        label = document["label"]
        metrics = ["accuracy", "f1_macro"] if label["task"] == "classification" else ["r2", "mae", "rmse"]
        rows = [[s["features"], str(label["feature_sizes"][s["features"]]), s["model"], *(number(s[m]) for m in metrics)]
                for s in label["scores"]]
        parts += [
            f"## {label['label_name']} ({label['task']})",
            "",
            f"{label['pixels']} label pixels in {label['blocks']} spatial blocks of {label['block_size_m']:g} m, "
            f"{label['folds']}-fold block cross-validation; period {_period(label['period'])} "
            f"({label['embedding_dates']} embedding dates, {label['cube_dates']} cube dates).",
            "",
            markdown_table(["features", "size", "model", *metrics], rows),
            "",
            verdict_line(label["verdict"]),
            "",
        ]
    if "temporal" in document:
        temporal = document["temporal"]
        rows = [[s["target"], s["model"], number(s["r2"]), number(s["mae"], 4), number(s["rmse"], 4)] for s in temporal["scores"]]
        parts += [
            "## Temporal fidelity: each pixel-date's bands from its own embedding",
            "",
            f"{temporal['pixel_dates']} pixel-dates (of {temporal['pixel_dates_available']}) in {temporal['blocks']} "
            f"spatial blocks of {temporal['block_size_m']:g} m, {temporal['folds']}-fold block cross-validation; "
            f"period {_period(temporal['period'])}.",
            "",
            markdown_table(["target", "model", "r2", "mae", "rmse"], rows),
            "",
        ]
    return "\n".join(parts)


def _period(period) -> str:
    return "all dates" if period is None else f"{period[0]} .. {period[1]}"


def verdict_line(verdict_: dict) -> str:
    """One sentence: the best embedding set against the band medians, with both scores."""
    relation = "at least as informative as" if verdict_["embedding_at_least_bands"] else "less informative than"
    return (
        f"The {verdict_['embedding_set']} ({verdict_['metric']} {verdict_['embedding']:.3f}) is {relation} the band "
        f"medians ({verdict_['band_medians']:.3f}), both with {FIGURE_MODEL}."
    )


def write_probe_outputs(folder: Path, label: ProbeResult | None, temporal: TemporalProbeResult | None) -> list[Path]:
    """Everything the probes report, into `folder` (a staged folder: see `staged_folder`)."""
    document = probe_document(label, temporal)
    paths = [folder / REPORT_JSON, folder / REPORT_MARKDOWN]
    paths[0].write_text(json.dumps(document, indent=2) + "\n")
    paths[1].write_text(probe_markdown(document))
    if label is not None:
        paths += [plot_scatter(label, folder / "probe_scatter.png"), plot_maps(label, folder / "probe_map.png")]
    if temporal is not None:
        paths.append(plot_series(temporal, folder / "temporal_series.png"))
    return paths


def plot_scatter(result: ProbeResult, path: Path) -> Path:
    """Observed against out-of-fold predicted label, embedding beside band medians."""
    plt = pyplot()
    sets = [best_embedding_set(result), REFERENCE_BASELINE]
    figure, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4.6), dpi=110, squeeze=False)
    low, high = np.nanmin(result.observed), np.nanmax(result.observed)
    metric = headline_metric(result.task)
    for axis, name in zip(axes[0], sets):
        predicted = result.predictions[name, FIGURE_MODEL]
        axis.scatter(result.observed, predicted, s=6, alpha=0.5, color="tab:green" if name.startswith("embedding") else "tab:blue")
        axis.plot([low, high], [low, high], color="black", linewidth=0.8)
        axis.set_xlabel(f"observed {result.label_name}")
        axis.set_ylabel("predicted (held-out blocks)")
        axis.set_title(f"{name}, {FIGURE_MODEL}: {metric} {result.scores[name, FIGURE_MODEL][metric]:.3f}")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def plot_maps(result: ProbeResult, path: Path) -> Path:
    """The label, and its out-of-fold predictions from the embedding and the band medians."""
    plt = pyplot()
    best = best_embedding_set(result)
    panels = {f"observed {result.label_name}": result.observed,
              f"predicted from the {best}": result.predictions[best, FIGURE_MODEL],
              f"predicted from the {REFERENCE_BASELINE}": result.predictions[REFERENCE_BASELINE, FIGURE_MODEL]}
    low, high = np.nanpercentile(result.observed, [2, 98])
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.6), dpi=110, layout="constrained")
    for axis, (title, values) in zip(axes, panels.items()):
        image = np.full(result.label_shape, np.nan)
        image[result.rows, result.cols] = values
        shown = axis.imshow(image, vmin=low, vmax=high, cmap="viridis", interpolation="nearest")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("label column")
        axis.set_ylabel("label row")
    figure.colorbar(shown, ax=list(axes), shrink=0.8)
    save_figure(figure, path)
    return path


def plot_series(result: TemporalProbeResult, path: Path, pixels: int = 3) -> Path:
    """Observed and predicted values through time at the held-out pixels with most dates."""
    plt = pyplot()
    target = "NDVI" if "NDVI" in result.observed else next(iter(result.observed))
    model = FIGURE_MODEL
    table = pd.DataFrame({"time": pd.DatetimeIndex(result.times), "row": result.rows, "col": result.cols,
                          "observed": result.observed[target], "predicted": result.predictions[target, model]})
    busiest = table.groupby(["row", "col"]).size().sort_values(ascending=False).index[:pixels]
    figure, axes = plt.subplots(len(busiest), 1, figsize=(9, 2.4 * len(busiest)), dpi=110, sharex=True, squeeze=False)
    for axis, (row, col) in zip(axes[:, 0], busiest):
        series = table[(table.row == row) & (table.col == col)].sort_values("time")
        axis.plot(series.time, series.observed, marker="o", markersize=3, label="observed", color="black")
        axis.plot(series.time, series.predicted, marker="x", markersize=3, label=f"from the embedding ({model})", color="tab:green")
        axis.set_ylabel(target)
        axis.set_title(f"pixel (row {row}, column {col})", fontsize=9)
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    save_figure(figure, path)
    return path
