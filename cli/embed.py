"""`cae embed`: whole cubes to an analysis-ready zarr of fused embeddings."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console, progress
from cae.cli.options import DeviceOption, MaskVariableOption


def _precision(value: str) -> str:
    if value not in ("float32", "bfloat16"):
        raise typer.BadParameter(f"{value!r} is not float32 or bfloat16")
    return value


def _count_or_auto(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise typer.BadParameter(f"{value!r} is neither a whole number >= 1 nor auto")
    return value


def embed(
    cubes: Annotated[list[Path], typer.Argument(help="Cubes of one place: the time-axis cube (S2) and any others (S1).")],
    model: Annotated[Path, typer.Option("--model", help="Fusion run folder (fusion.json), e.g. runs/fusion.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output zarr store, e.g. embedding.zarr.")],
    device: DeviceOption = "auto",
    batch_size: Annotated[
        str, typer.Option(callback=_count_or_auto, help="Windows per forward pass, or auto (from the device's free memory).")
    ] = "512",
    chunk: Annotated[
        str,
        typer.Option(callback=_count_or_auto, help="Pixels per side of a chunk (memory grows with its square), or auto: "
                     "the largest that fits a quarter of the device's free memory (a GPU's, or the system's)."),
    ] = "64",
    chunk_dates: Annotated[int, typer.Option(min=1, help="Dates per chunk.")] = 32,
    precision: Annotated[
        str,
        typer.Option(callback=_precision, help="Arithmetic of the encoders and fusion: float32, or bfloat16 (autocast; for a GPU's tensor "
                     "cores: docs/embedding-quality.md has its agreement with float32). The store is float32."),
    ] = "float32",
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a dask.distributed scheduler to run the chunks on.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the size of the job and an estimated time; write nothing.")] = False,
    naive: Annotated[bool, typer.Option("--naive", help="Run the full encoder on every window (the slow reference).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out store.")] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also store embedding_int8 (a quarter of the size) with per-feature scale and offset.")
    ] = False,
    mask_variable: MaskVariableOption = None,
    series_ends: Annotated[
        bool,
        typer.Option("--series-ends", help="Also embed the first and last 5 dates (not the paper's): each window repeats the "
                     "series' first or last date in place of the dates beyond it; flagged in series_end(time, y, x). "
                     "Their agreement with full-context embeddings: README, Outputs in a GIS."),
    ] = False,
) -> None:
    """Embed every cloud-free pixel-date of a cube with a trained fusion model.

    Output: a zarr store with [bold]embedding(feature, time, y, x)[/bold] (float32; NaN where
    a pixel-date lacks full context: 11 dates and the encoder's window inside the cube, and
    a valid centre), [bold]contributors(time, y, x)[/bold] (bit flags of the modalities used),
    the cube's x/y, CRS and dates, and the hashes of the models and inputs. With --int8,
    also embedding_int8 (codes -127..127, -128 where there is no embedding):
    embedding ~ embedding_int8 * embedding_int8_scale + embedding_int8_offset, off by at
    most half a step. The store's attributes follow the geoemb: Zarr convention proposal,
    and a STAC item describing it is written beside it (OUT without its suffix + .stac.json).
    --dry-run also says how many pixel-dates will get an embedding, and why the others not.

    Work is done chunk by chunk and each chunk is written when it finishes; if the run is
    stopped, the same command resumes where it stopped. The store appears at --out only
    once complete (until then it is OUT.partial). A second `cae embed` to the same --out
    is refused while this one runs.
    """
    from cae.embedding.describe import stac_item_path
    from cae.embedding.job import EmbedOptions
    from cae.embedding.plan import estimate, plan
    from cae.embedding.run import embed as embed_cubes

    options = EmbedOptions(device=device, batch_size=_number(batch_size), chunk=_number(chunk), chunk_dates=chunk_dates,
                           naive=naive, scheduler=scheduler, overwrite=overwrite, int8=int8, precision=precision,
                           mask_variable=mask_variable, series_ends=series_ends)
    if dry_run:
        planned = plan(cubes, model, out, options)
        numbers = estimate(planned, int8)
        n_times, height, width = planned.shape
        console.print(
            f"{height} x {width} pixels x {n_times} dates; [bold]{numbers['pixel_dates']:,}[/bold] pixel-dates to embed "
            f"({', '.join(planned.modalities)}) in {len(planned.chunks)} chunks of {_chunk_text(planned)}\n"
            f"output: about {numbers['output_bytes'] / 2**20:,.1f} MiB before compression\n"
            f"estimated time: {numbers['seconds']:,.0f} s at {numbers['pixel_dates_per_s']:,.0f} pixel-dates/s "
            f"({'naive' if naive else 'fast'} path on {planned.job.device}, measured on a sample)"
        )
        console.print("\n".join(planned.coverage.lines()), highlight=False)
        return
    with progress() as bar:
        task = bar.add_task("embedding (chunks)", total=None)
        store, planned = embed_cubes(cubes, model, out, options, lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"embedded {planned.centres:,} pixel-dates into [bold]{store}[/bold] "
                  f"({len(planned.chunks)} chunks of {_chunk_text(planned)}); its STAC item: {stac_item_path(store)}")


def _number(value: str) -> int | str:
    return value if value == "auto" else int(value)


def _chunk_text(planned) -> str:
    dates, side, _ = planned.chunk_shape
    return f"{dates} dates x {side} x {side} pixels, {planned.job.batch_size} windows per pass"
