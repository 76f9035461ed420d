"""`cae evaluate`: how good are the encoders and the embedding (DESIGN.md section 7)."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cae.cli.console import console
from cae.cli.options import OverwriteOption

app = typer.Typer(
    help="Evaluate trained models and embeddings: reconstruction vs PCA, GPP at flux towers, maps.",
    no_args_is_help=True,
)

DeviceOption = Annotated[str, typer.Option("--device", help="cpu, cuda, or auto (cuda when available).")]
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


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )


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
        typer.Option("--inputs", help="Input sets to compare (repeatable): features, bands, ndvi_nirv, meteo. "
                     "Default: every set all sites have. A climatology is always scored."),
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="temporal and/or leave-one-site-out (default: both).")
    ] = None,
    train_years: Annotated[str, typer.Option(help="Temporal split: years whose days train.")] = "2017-2019",
    test_years: Annotated[str, typer.Option(help="Temporal split: years whose days are tested.")] = "2020",
    head: Annotated[str, typer.Option(help="GPP head: paper (the authors' size) or small (for CPUs).")] = "paper",
    epochs: Annotated[int | None, typer.Option(help="Training epochs of each head (default: the head's).")] = None,
    train_stride: Annotated[int, typer.Option(help="Train on every n-th day's window (test: every day).")] = 10,
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
    where available, and the ERA-Interim meteorology. A day-of-year climatology of the
    training GPP is the floor. [bold]temporal[/bold]: train 2017-2019, test 2020;
    [bold]leave-one-site-out[/bold]: each site tested by heads that never saw it.

    Writes to --out: gpp_report.json and .md (RMSE, MAE, R2, NSE, bias per site and
    overall), predictions.csv, inputs.csv (the per-date features used), and per split
    series_<split>.png (observed and predicted per site) and scatter_<split>.png.
    """
    import dataclasses

    from cae.errors import InputError
    from cae.evaluation.features import FeatureSource, site_inputs
    from cae.evaluation.flux import bundled_flux_dir, read_sites
    from cae.evaluation.gpp import GppConfig, evaluate_gpp
    from cae.evaluation.gpp_report import write_gpp_outputs
    from cae.evaluation.head import HEADS
    from cae.evaluation.output import check_output_folder

    check_output_folder(out, overwrite)
    if head not in HEADS:
        raise InputError(f"unknown --head {head!r}; use {' or '.join(HEADS)}")
    head_config = HEADS[head] if epochs is None else dataclasses.replace(HEADS[head], epochs=epochs)
    config = GppConfig(
        splits=tuple(split) if split else GppConfig.splits,
        inputs=tuple(inputs) if inputs else None,
        train_years=_years(train_years, "--train-years"),
        test_years=_years(test_years, "--test-years"),
        head=head_config,
        train_stride=train_stride,
        seed=seed,
        device=device,
    )
    flux_dir = flux or bundled_flux_dir()
    sources = [FeatureSource.parse(text) for text in features or []]
    with console.status("reading the features around each tower"):
        per_site = site_inputs(sources, read_sites(flux_dir), footprint_radius) if sources else {}
    with _progress() as bar:
        task = bar.add_task("training GPP heads", total=None)
        result = evaluate_gpp(
            flux_dir, per_site, config, site,
            lambda label, done, total: bar.update(task, description=label, completed=done, total=total),
        )
    document = write_gpp_outputs(result, flux_dir, features or [], out, overwrite)
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
    model: Annotated[Path, typer.Option("--model", "-m", help="An encoder run folder (encoder.json), or a folder of runs.")],
    cube: Annotated[
        list[Path] | None,
        typer.Option("--cube", help="Cube to evaluate on (repeatable). A training cube contributes only its held-out "
                     "sites, any other cube all of it. Default: the held-out sites of the training cubes."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for reconstruction.json and .md (default: --model).")
    ] = None,
    max_pca_samples: Annotated[int, typer.Option(help="Most training patches the PCA is fitted on.")] = 4000,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Reconstruction of held-out patches by each encoder, against PCA of the same latent size.

    The PCA is fitted on the encoder's own training patches (its training sites); both then
    reconstruct the patches of the sites the training run held out for testing. Scores:
    centre MAE and spectral angle (SAM) at the centre pixel and date, and SSIM of the whole
    frames; a patch-mean row shows what predicting each band's mean achieves.
    """
    from cae.evaluation.reconstruction import check_report_absent, reconstruction_report, write_reconstruction_report

    check_report_absent(out or model, overwrite)
    with _progress() as bar:
        task = bar.add_task("reconstructing", total=None)
        report = reconstruction_report(
            model, cube, device, max_pca_samples,
            lambda name, done, total: bar.update(task, description=f"{name}: reconstructing", completed=done, total=total),
        )
    paths = write_reconstruction_report(report, out or model, overwrite)
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
    count: Annotated[int, typer.Option(help="Without --date: how many well-covered dates to map.")] = 4,
    rgb: Annotated[str, typer.Option(help="Bands shown as red, green, blue.")] = "B04,B03,B02",
    overwrite: OverwriteOption = False,
) -> None:
    """True colour next to a PCA-RGB of the embedding, one PNG per date (the paper's figure).

    One PCA of the embedded pixels of all mapped dates, with one colour stretch, so equal
    colours mean equal embeddings across the maps. Grey: no embedding (the border without
    full context, cloudy centres).
    """
    from cae.errors import InputError
    from cae.evaluation.maps import embedding_maps
    from cae.evaluation.output import check_output_folder

    bands = tuple(part.strip() for part in rgb.split(","))
    if len(bands) != 3:
        raise InputError(f"--rgb takes three bands separated by commas, e.g. B04,B03,B02; got {rgb!r}")
    check_output_folder(out, overwrite)
    with console.status("drawing the maps"):
        paths = embedding_maps(embeddings, cube, out, date, count, bands, overwrite)
    for path in paths:
        console.print(f"map: [bold]{path}[/bold]")
