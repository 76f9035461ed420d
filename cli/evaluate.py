"""`cae evaluate`: how good are the encoders and the embedding (DESIGN.md section 7)."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cae.cli.console import console, progress
from cae.cli.options import DeviceOption, MaskVariableOption, OverwriteOption

app = typer.Typer(
    help="Evaluate trained models and embeddings: reconstruction vs PCA, GPP at flux towers, maps.",
    no_args_is_help=True,
)

SeedOption = Annotated[int, typer.Option("--seed", help="Random seed: same seed, same result.")]


def _years(text: str, option: str) -> tuple[int, int]:
    from cae.errors import InputError

    first, _, last = text.partition("-")
    try:
        span = (int(first), int(last or first))
    except ValueError:
        raise InputError(f"{option} takes a year or a span of years, e.g. 2017-2019; got {text!r}") from None
    if span[0] > span[1]:
        raise InputError(f"{option} {text}: the first year is after the last")
    return span


def gpp_table(split: str, content: dict[str, Any], units: str) -> Table:
    """Overall scores of every model on one split."""
    from cae.evaluation.output import number

    tested = sorted({site for fold in content["folds"] for site in fold["test_sites"]})
    table = Table(title=f"GPP, {split}: {len(content['folds'])} fold(s), {len(tested)} test site(s), {units}")
    for column in ("model", "RMSE", "MAE", "R2", "NSE", "bias", "days"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model, scores in content["scores"].items():
        overall = scores["overall"]
        table.add_row(model, *(number(overall[key]) for key in ("rmse", "mae", "r2", "nse", "bias")), str(overall["n"]))
    return table


@app.command("gpp")
def gpp(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report, predictions and figures.")],
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features", metavar="SITE=STORE.zarr | TABLE.csv",
            help="Per-date features (repeatable): SITE=STORE, a `cae embed` store of a cube around that tower "
            "(footprint means, plus band means and NDVI/NIRv of its cube when that lies in the store's folder), "
            "or a CSV table with columns site, date and numeric features. Without it: meteorology only, on every "
            "flux site.",
        ),
    ] = None,
    flux: Annotated[
        Path | None,
        typer.Option("--flux", help="Flux folder: sites.csv and <site>.csv[.gz] (date, GPP, meteorology). "
                     "Default: the bundled 39 Warm Winter 2020 sites."),
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Evaluate only these sites (repeatable).")] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--inputs", help="Input sets to compare (repeatable): features, bands, ndvi_nirv, meteo, "
                     "features+meteo. Default: every set all sites have. A climatology is always scored."),
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="temporal and/or leave-one-site-out (default: both).")
    ] = None,
    train_years: Annotated[str, typer.Option(help="Temporal split: years whose days train.")] = "2017-2019",
    test_years: Annotated[str, typer.Option(help="Temporal split: years whose days are tested.")] = "2020",
    head: Annotated[str, typer.Option(help="GPP head: paper (the authors' size) or small (for CPUs).")] = "paper",
    steps: Annotated[
        int | None,
        typer.Option(help="Most optimiser steps of each head (default: the head's). A head stops early once the "
                     "last days of its training sites stop improving, never before the head's minimum (or --steps "
                     "if fewer)."),
    ] = None,
    footprint_radius: Annotated[
        float, typer.Option(help="Metres around the tower whose pixels are averaged (SITE=STORE features).")
    ] = 250.0,
    device: DeviceOption = "auto",
    seed: SeedOption = 42,
    overwrite: OverwriteOption = False,
) -> None:
    """GPP at flux towers from 90-day windows of daily inputs, against simple baselines.

    Each site's per-date inputs are laid on consecutive days using only observations up to
    each window's last day, and a small transformer (L1 on standardised GPP) predicts GPP
    (g C m-2 d-1) on that day from each input set: the features, band means and NDVI/NIRv
    (red and NIR columns named B04/B08, B4/B8 or red/nir), the ERA-Interim meteorology, and
    the features with the meteorology. Heads train on every training day's window, sized
    in optimiser steps. A day-of-year climatology of the training GPP is the floor.
    [bold]temporal[/bold]: train 2017-2019, test 2020; [bold]leave-one-site-out[/bold]:
    each site tested by heads that never saw it.

    Writes to --out: gpp_report.json and .md (RMSE, MAE, R2, NSE, bias per site and
    overall), predictions.csv, inputs.csv (the per-date features used), and per split
    series_<split>.png (observed and predicted per site) and scatter_<split>.png.
    """
    import dataclasses

    from cae.errors import InputError
    from cae.evaluation.gpp.features import FeatureSource, site_inputs
    from cae.evaluation.gpp.flux import bundled_flux_dir, read_sites
    from cae.evaluation.gpp.evaluate import GppConfig, evaluate_gpp
    from cae.evaluation.gpp.report import write_gpp_outputs
    from cae.evaluation.gpp.head import HEAD_PRESETS
    from cae.evaluation.output import check_output_folder

    flux_dir = flux or bundled_flux_dir()
    sources = [FeatureSource.parse(text) for text in features or []]
    read = (flux_dir, *(source.path for source in sources))
    check_output_folder(out, overwrite, read)
    if head not in HEAD_PRESETS:
        raise InputError(f"unknown --head {head!r}; use {' or '.join(HEAD_PRESETS)}")
    head_config = HEAD_PRESETS[head] if steps is None else dataclasses.replace(HEAD_PRESETS[head], steps=steps)
    config = GppConfig(
        splits=tuple(split) if split else GppConfig.splits,
        inputs=tuple(inputs) if inputs else None,
        train_years=_years(train_years, "--train-years"),
        test_years=_years(test_years, "--test-years"),
        head=head_config,
        seed=seed,
        device=device,
    )
    with console.status("reading the features around each tower"):
        per_site = site_inputs(sources, read_sites(flux_dir), footprint_radius) if sources else {}
    with progress() as bar:
        task = bar.add_task("training GPP heads", total=None)
        result = evaluate_gpp(
            flux_dir, per_site, config, site,
            lambda label, done, total: bar.update(task, description=label, completed=done, total=total),
        )
    document = write_gpp_outputs(result, flux_dir, features or [], out, overwrite, read)
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} site(s) without a usable day: {', '.join(result.skipped)}")
    for name, content in document["splits"].items():
        console.print(gpp_table(name, content, document["units"]))
    console.print(f"report, predictions and figures: [bold]{out}[/bold]")


def reconstruction_table(report: dict[str, Any]) -> Table:
    """Centre MAE, SAM and SSIM of each encoder against PCA and the patch mean."""
    from cae.evaluation.output import number

    table = Table(title="Reconstruction of held-out patches (lower MAE and SAM, higher SSIM are better)")
    for column in ("modality", "method", "centre MAE", "SAM (rad)", "SSIM", "patches"):
        table.add_column(column, justify="left" if column in ("modality", "method") else "right")
    for modality, result in report["modalities"].items():
        for method, scores in result["scores"].items():
            label = f"PCA, {result['pca']['components']} components" if method == "pca" else method.replace("_", " ")
            table.add_row(
                modality, label, *(number(scores[key], 4) for key in ("center_mae", "sam", "ssim")), str(result["samples"])
            )
    return table


@app.command("reconstruction")
def reconstruction(
    model: Annotated[Path, typer.Option("--model", help="An encoder run folder (encoder.json), or a folder of runs.")],
    cube: Annotated[
        list[Path] | None,
        typer.Option("--cube", help="Cube to evaluate on (repeatable). A training cube contributes only its held-out "
                     "sites, any other cube all of it. Default: the held-out sites of the training cubes."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for reconstruction.json and .md (never inside --model: a "
                           "command does not write into its inputs).")
    ] = Path("reconstruction"),
    max_pca_samples: Annotated[int, typer.Option(min=1, help="Most training patches the PCA is fitted on.")] = 4000,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Reconstruction of held-out patches by each encoder, against PCA of the same latent size.

    The PCA is fitted on the encoder's own training patches (its training sites); both then
    reconstruct the patches of the sites the training run held out for testing. Scores:
    centre MAE and spectral angle (SAM) at the centre pixel and date, and SSIM of the whole
    frames; a patch-mean row shows what predicting each band's mean achieves.
    """
    from cae.evaluation.reconstruction import (
        check_report_absent,
        reconstruction_report,
        report_inputs,
        write_reconstruction_report,
    )

    inputs = report_inputs(model, cube)
    check_report_absent(out, overwrite, inputs)
    with progress() as bar:
        task = bar.add_task("reconstructing", total=None)
        report = reconstruction_report(
            model, cube, device, max_pca_samples,
            lambda name, done, total: bar.update(task, description=f"{name}: reconstructing", completed=done, total=total),
        )
    paths = write_reconstruction_report(report, out, overwrite, inputs)
    console.print(reconstruction_table(report))
    console.print(f"report: [bold]{paths[0]}[/bold] and {paths[1].name}")


@app.command("maps")
def maps(
    embeddings: Annotated[Path, typer.Option("--embeddings", "-e", help="Store written by `cae embed`.")],
    cube: Annotated[Path, typer.Option("--cube", help="The Sentinel-2 cube that was embedded (for true colour).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNG maps.")],
    date: Annotated[
        list[str] | None, typer.Option("--date", help="Date to map, YYYY-MM-DD (repeatable; the nearest store date).")
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="Without --date: how many well-covered dates to map.")] = 4,
    rgb: Annotated[str, typer.Option(help="Bands shown as red, green, blue.")] = "B04,B03,B02",
    geotiff: Annotated[
        bool, typer.Option("--geotiff", help="Also write each PCA-RGB as a georeferenced GeoTIFF (map_<date>.tif) for a GIS.")
    ] = False,
    overwrite: OverwriteOption = False,
) -> None:
    """True colour next to a PCA-RGB of the embedding, one PNG per date (the paper's figure).

    One PCA with one colour stretch, fitted on a fixed sample spread over the whole store
    (written to pca.json), so equal colours mean equal embeddings on every map of the
    store, in this call and the next. Grey (nodata in the GeoTIFF): no embedding (the
    border and ends without full context, cloudy centres). A --date whose nearest store
    date has no embedding is skipped with a warning.
    """
    from cae.errors import InputError
    from cae.evaluation.maps import embedding_maps

    bands = tuple(part.strip() for part in rgb.split(","))
    if len(bands) != 3:
        raise InputError(f"--rgb takes three bands separated by commas, e.g. B04,B03,B02; got {rgb!r}")
    with console.status("drawing the maps"):
        paths = embedding_maps(embeddings, cube, out, date, count, bands, overwrite, geotiff)
    for path in paths:
        console.print(f"map: [bold]{path}[/bold]")


def probe_table(label) -> Table:
    """Scores of every feature set and model on the label, the embedding's sets first."""
    from cae.evaluation.output import number

    metrics = ["accuracy", "f1_macro"] if label.task == "classification" else ["r2", "mae", "rmse"]
    table = Table(title=f"{label.label_name}: {label.details['pixels']} pixels, {label.details['blocks']} spatial blocks "
                        f"held out in {label.details['folds']} folds")
    for column in ("features", "size", "model", *metrics):
        table.add_column(column, justify="left" if column in ("features", "model") else "right")
    for (name, model), scores in label.scores.items():
        style = "bold" if name.startswith("embedding") else None
        table.add_row(name, str(label.feature_sizes[name]), model, *(number(scores[m]) for m in metrics), style=style)
    return table


def temporal_table(temporal) -> Table:
    """R2 of each pixel-date's bands and NDVI from its own embedding."""
    from cae.evaluation.output import number

    models = sorted({model for _, model in temporal.scores})
    table = Table(title=f"Temporal fidelity: {temporal.details['pixel_dates']:,} pixel-dates, each predicted from its "
                        f"own embedding ({temporal.details['blocks']} blocks held out)")
    table.add_column("target")
    for model in models:
        table.add_column(f"R2, {model}", justify="right")
    for target in dict.fromkeys(target for target, _ in temporal.scores):
        table.add_row(target, *(number(temporal.scores[target, model]["r2"]) for model in models))
    return table


def run_probes(embeddings: Path, target: Path | None, cubes: list[Path] | None, options, temporal: bool):
    """The label probe (with `target`) and the temporal probe (with `temporal`), with progress."""
    from cae.evaluation.probe import run_probe
    from cae.evaluation.temporal_probe import run_temporal_probe

    label_result = temporal_result = None
    with progress() as bar:
        if target is not None:
            task = bar.add_task(f"probing {target.name}: fitting each feature set and model", total=None)
            label_result = run_probe(embeddings, target, cubes, options, lambda: bar.advance(task))
        if temporal:
            task = bar.add_task("temporal probe: each pixel-date's bands from its embedding", total=None)
            temporal_result = run_temporal_probe(embeddings, cubes, options, progress=lambda: bar.advance(task))
    return label_result, temporal_result


@app.command("probe")
def probe(
    embeddings: Annotated[Path, typer.Option("--embeddings", "-e", help="Store written by `cae embed`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for probe.json, probe.md and the figures.")],
    target: Annotated[
        Path | None,
        typer.Option("--target", "-t", help="A one-band raster label (GeoTIFF or any GDAL raster, any CRS and "
                     "resolution), e.g. the bundled tree cover density: `python -c 'from cae.data import "
                     "demo_label_path; print(demo_label_path())'`. Without it: the temporal probe only."),
    ] = None,
    cube: Annotated[
        list[Path] | None,
        typer.Option("--cube", help="The cube(s) the store was embedded from, for the baselines (repeatable). "
                     "Default: the inputs the store records."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Dates whose statistics make the features: a year (2018), years (2017-2019) or "
                     "START/END dates. Default: every date."),
    ] = None,
    percentiles: Annotated[bool, typer.Option(help="Also probe the embedding's 10th/50th/90th percentiles.")] = False,
    temporal: Annotated[
        bool, typer.Option(help="Also predict each pixel-date's bands and NDVI from its own embedding.")
    ] = True,
    block_size: Annotated[float, typer.Option(min=1e-9, help="Side of the held-out spatial blocks, metres.")] = 200.0,
    folds: Annotated[int, typer.Option(min=2, help="Folds of the spatial block cross-validation.")] = 5,
    task: Annotated[
        str, typer.Option(help="regression, classification, or auto (integer labels with <= 20 classes are classes).")
    ] = "auto",
    seed: SeedOption = 42,
    mask_variable: MaskVariableOption = None,
    overwrite: OverwriteOption = False,
) -> None:
    """How much the embedding knows, next to the bands it was made from.

    [bold]Label probe[/bold] (--target): per pixel, the embedding's mean (and mean + standard
    deviation) over --period, aggregated onto the label's grid, predicts the label with ridge
    and gradient-boosted trees (logistic regression and trees for classes). Baselines from the
    embedded cube, fed the same pixels and folds: band medians, band percentiles, NDVI
    percentiles, the period mean of the bands' principal components. Spatial blocks are held
    out whole (never a random pixel split). [bold]Temporal probe[/bold]: each pixel-date's
    embedding alone predicts that date's bands and NDVI.

    Writes to --out: probe.json and probe.md (R2, MAE, RMSE or accuracy and F1), a scatter
    and a map of observed vs predicted (probe_scatter.png, probe_map.png), and
    temporal_series.png (NDVI through time at a few held-out pixels).
    """
    from cae.errors import InputError
    from cae.evaluation.output import check_output_folder, staged_folder
    from cae.evaluation.probe import ProbeOptions
    from cae.evaluation.probe_report import write_probe_outputs

    if target is None and not temporal:
        raise InputError("nothing to probe: give a --target label, or leave the temporal probe on")
    inputs = (embeddings, *(cube or ()), *((target,) if target else ()))
    check_output_folder(out, overwrite, inputs)
    options = ProbeOptions(period=period, percentiles=percentiles, block_size=block_size, folds=folds, task=task, seed=seed,
                           mask_variable=mask_variable)
    label_result, temporal_result = run_probes(embeddings, target, cube, options, temporal)
    with staged_folder(out, overwrite, inputs) as folder:
        write_probe_outputs(folder, label_result, temporal_result)
    show_probe_results(label_result, temporal_result, out)


def show_probe_results(label, temporal, out: Path) -> None:
    """The probes' tables, and whether the embedding keeps up with the band medians."""
    from cae.evaluation.probe_report import verdict, verdict_line

    if label is not None:
        console.print(probe_table(label))
    if temporal is not None:
        console.print(temporal_table(temporal))
    if label is not None:
        found = verdict(label)
        colour = "green" if found["embedding_at_least_bands"] else "yellow"
        console.print(f"[{colour}]{verdict_line(found)}[/{colour}]")
    console.print(f"probe report and figures: [bold]{out}[/bold]")
