"""`cae train`: train a modality's context autoencoder (stage 1)."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console

DeviceOption = Annotated[str, typer.Option("--device", help="cpu, cuda, or auto (cuda when available).")]


def train(
    modality: Annotated[str, typer.Option("--modality", "-m", help="Modality to train, e.g. s1 or s2 (see `cae modalities`).")],
    cube: Annotated[
        list[Path] | None,
        typer.Option("--cube", help="Training cube (repeat for several sites). Default: the bundled real demo cube."),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Architecture: paper (default), small or tiny.")] = None,
    epochs: Annotated[int, typer.Option(help="Most epochs to train (early stopping may end sooner).")] = 200,
    max_steps: Annotated[int, typer.Option(help="Most optimiser steps; -1 for no limit.")] = -1,
    batch_size: Annotated[int, typer.Option(help="Samples per step.")] = 16,
    learning_rate: Annotated[float | None, typer.Option(help="Peak AdamW learning rate (default 1e-4, the paper's).")] = None,
    device: DeviceOption = "auto",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data and result.")] = 42,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder. Default: runs/<modality>.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last saved state.")] = False,
) -> None:
    """Train one sensor's context-aware autoencoder and save a self-describing checkpoint.

    Samples are 11 dates x 15 x 15 pixels around a centre pixel; whole spatial blocks
    (sites) are held out for validation and test. The run folder gets encoder.safetensors,
    encoder.json (bands, preprocessing, preset, metrics per epoch, held-out test scores)
    and loss_curve.png.
    """
    from cae.data import DEMO_CUBES, demo_cube_path
    from cae.errors import InputError
    from cae.plugins import installed_modalities
    from cae.training import TrainConfig, train_encoder

    installed_modalities().get(modality)  # an unknown name fails here, listing the installed ones
    if not cube:
        if modality not in DEMO_CUBES:
            raise InputError(f"no bundled demo cube for {modality}; give --cube")
        cube = [demo_cube_path(modality)]
    settings = dict(preset=preset, epochs=epochs, max_steps=max_steps, batch_size=batch_size, device=device, seed=seed)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    config = TrainConfig(**settings)
    result = train_encoder(modality, cube, out or Path("runs") / modality, config, resume=resume)
    test = result.metadata.get("test", {})
    console.print(f"saved the {modality} encoder in [bold]{result.run_dir}[/bold]")
    if test:
        console.print(
            f"held-out centre MAE {test['center_mae']:.4f} "
            f"(predicting each patch's mean: {test['patch_mean_center_mae']:.4f}; {test['samples']} samples)"
        )
