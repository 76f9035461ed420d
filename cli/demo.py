"""`cae demo`: the main job on the bundled real data."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console, progress


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path("cae-demo"),
    train: Annotated[
        bool,
        typer.Option("--train", help="Train the S2 encoder and fusion here from scratch with the demo's recipe "
                     "(about 9 more minutes on 2 CPU cores) instead of using the model shipped with cae."),
    ] = False,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="With --train: training steps of the S2 encoder (fusion trains half as many); default 3000.")
    ] = None,
) -> None:
    """Run cae end to end on the bundled real cubes (Romania S2, Poland S1 VH).

    Validates and preprocesses both cubes; takes the S2 encoder and the fusion model over it
    from the model shipped with cae (trained with the demo's recipe by
    scripts/train_demo_model.py; RECIPE.md beside it says how and what it scored) into
    OUT/runs, or trains them there with --train, or reuses what a previous demo put there;
    reports held-out centre MAEs, embeds the Romania cube into OUT/romania_embedding.zarr,
    and ends with the reconstruction report (encoder vs PCA on the held-out blocks), true-colour
    / PCA-RGB maps and the probes of `cae evaluate probe` in OUT/evaluation: how well the
    embedding predicts the bundled tree cover density 2018 next to the bands, and each date's
    bands and NDVI. Nothing is downloaded: the cubes and the model ship with cae.
    """
    if max_steps is not None and not train:
        raise typer.BadParameter("sets how long --train trains; add --train (without it the shipped model is used)",
                                 param_hint="--max-steps")
    from importlib.resources import files

    from cae.outputs import check_apart

    check_apart({"--out": out}, [Path(str(files("cae.data")))])  # the bundled cubes, label and model
    from cae.cli.cube import stack_table
    from cae.cli.evaluate import reconstruction_table
    from cae.cli.train import warn_if_weak
    from cae.cube.stack import load_stack
    from cae.data import DEMO_CUBES, demo_cube_path
    from cae.demo import DEMO_STEPS, fused_or_fuse, install_shipped_model, trained_or_train
    from cae.evaluation.maps import embedding_maps
    from cae.evaluation.reconstruction import reconstruction_report, write_reconstruction_report
    from cae.plugins.manager import installed_modalities

    registry = installed_modalities()
    out.mkdir(parents=True, exist_ok=True)
    for modality in DEMO_CUBES:
        path = demo_cube_path(modality)
        with console.status(f"validating {path.name}"):
            stack = load_stack([path], registry)
        console.print(stack_table(stack))
    runs = out / "runs"
    run_dir = runs / "s2"
    steps = max_steps or DEMO_STEPS
    if not train and not run_dir.exists() and not (runs / "fusion").exists():
        console.rule("the S2 encoder and fusion model shipped with cae")
        install_shipped_model(runs)
        console.print(f"copied into {runs}: trained on the real Romania cube by the demo's recipe "
                      "(its RECIPE.md says how); `cae demo --train` trains them here from scratch")
    else:
        console.rule("training the Sentinel-2 encoder on the real Romania cube")
    result, trained = trained_or_train("s2", demo_cube_path("s2"), run_dir, max_steps=steps)
    if not trained:
        console.print(f"using the encoder in {run_dir} (delete {runs} to start again)")
    test = result.metadata.get("test", {})
    if test:
        console.print(
            f"held-out centre MAE of the S2 encoder: [bold]{test['center_mae']:.4f}[/bold] "
            f"(predicting each patch's mean: {test['patch_mean_center_mae']:.4f}, {test['samples']} samples)"
        )
        warn_if_weak(test)
    console.print(f"loss curve: {run_dir / 'loss_curve.png'}")
    console.rule("fusion over the frozen S2 encoder (real data only)")
    fused, trained = fused_or_fuse(demo_cube_path("s2"), runs, encoder_steps=steps)
    if not trained:
        console.print(f"using the fusion model in {fused.run_dir}")
    for name, scores in fused.metadata.get("test", {}).items():
        console.print(
            f"{name} held-out centre MAE through the 7-d fused embedding: [bold]{scores['fusion_center_mae']:.4f}[/bold] "
            f"(its own autoencoder: {scores['autoencoder_center_mae']:.4f})"
        )
    console.rule("embedding the Romania cube with the fused model")
    store = out / "romania_embedding.zarr"
    if store.exists():
        console.print(f"using the embedding made earlier (delete {store} to embed again)")
    else:
        from cae.embedding.job import EmbedOptions
        from cae.embedding.run import embed

        with progress() as bar:
            task = bar.add_task("embedding every cloud-free pixel-date (chunks)", total=None)
            _, planned = embed([demo_cube_path("s2")], fused.run_dir, store, EmbedOptions(),
                               lambda done, total: bar.update(task, completed=done, total=total))
        console.print(f"embedded {planned.centres:,} pixel-dates")
    console.print(f"embedding store: [bold]{store}[/bold] (open it with xarray.open_zarr)")
    console.rule("evaluating: reconstruction of held-out patches vs PCA, and maps of the embedding")
    evaluation = out / "evaluation"
    with console.status("reconstructing the held-out patches with the encoder and with PCA"):
        report = reconstruction_report(run_dir)
    paths = write_reconstruction_report(report, evaluation, overwrite=True)  # the demo's own, redone each run
    console.print(reconstruction_table(report))
    console.print(f"reconstruction report: [bold]{paths[0]}[/bold] and {paths[1].name}")
    with console.status("drawing true colour and PCA-RGB maps"):
        maps = embedding_maps(store, demo_cube_path("s2"), evaluation / "maps", overwrite=True)
    console.print(f"maps ({len(maps)} dates): [bold]{evaluation / 'maps'}[/bold]")
    console.rule("what the embedding is worth: tree cover 2018 and each date's bands, next to the bands")
    probe_demo_embedding(store, evaluation / "probe")
    console.print(f"demo finished; outputs in [bold]{out}[/bold]")


def probe_demo_embedding(store: Path, out: Path) -> None:
    """The probes of `cae evaluate probe` on the bundled label (tree cover density 2018)."""
    from cae.cli.evaluate import run_probes, show_probe_results
    from cae.data import demo_label_path
    from cae.evaluation.output import staged_folder
    from cae.evaluation.probe import ProbeOptions
    from cae.evaluation.probe_report import write_probe_outputs

    options = ProbeOptions(period="2018", percentiles=True, block_size=demo_block_size(store))
    label, temporal = run_probes(store, demo_label_path(), None, options, temporal=True)
    with staged_folder(out, overwrite=True) as folder:  # the demo's own, redone each run
        write_probe_outputs(folder, label, temporal)
    show_probe_results(label, temporal, out)


def demo_block_size(store: Path) -> float:
    """200 m blocks (25 over the bundled square kilometre), smaller where the embedded area is
    too small to hold the 5 folds' blocks (a crop): a quarter of its narrower side."""
    import xarray as xr

    from cae.cube.grid import resolution_of

    grid = xr.open_zarr(store, consolidated=False)
    interior = min(grid.sizes["x"], grid.sizes["y"]) - 14  # the 7-pixel border has no embedding
    return min(200.0, interior * max(resolution_of(grid)) / 4)
