"""`cae train`: train a modality's context autoencoder (stage 1)."""

from pathlib import Path
from typing import Annotated

import typer

from cae.cli.console import console
from cae.cli.options import DeviceOption, MaskVariableOption



def _known_preset(name: str | None) -> str | None:
    from cae.model.presets import PRESETS

    if name is not None and name not in PRESETS:
        raise typer.BadParameter(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    return name


def _known_fusion_preset(name: str | None) -> str | None:
    from cae.fusion.model import FUSION_PRESETS

    if name is not None and name not in FUSION_PRESETS:
        raise typer.BadParameter(f"unknown fusion preset {name!r}; the fusion presets are {', '.join(FUSION_PRESETS)}")
    return name


def _positive(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value} is not a learning rate; give a number > 0, e.g. 1e-4")
    return value


def _steps_or_unlimited(steps: int) -> int:
    if steps == 0 or steps < -1:
        raise typer.BadParameter(f"{steps} steps would save an untrained model; give at least 1, or -1 for no limit")
    return steps


def train(
    modalities: Annotated[
        list[str] | None,
        typer.Option(
            "--modality", "-m", metavar="NAME",
            help="Modality to train, e.g. s1 or s2 (see `cae modalities`). With --fusion: a modality to fuse "
            "(repeatable; default: the cubes' own), e.g. a derived one that reads the S2 cube.",
        ),
    ] = None,
    fusion: Annotated[bool, typer.Option("--fusion", help="Train fusion over the trained encoders instead.")] = False,
    runs: Annotated[Path, typer.Option("--runs", help="With --fusion: where to find trained encoders.")] = Path("runs"),
    encoder: Annotated[
        list[str] | None, typer.Option("--encoder", help="With --fusion: NAME=DIR, an encoder to use (repeatable).")
    ] = None,
    dims: Annotated[int | None, typer.Option("--dims", min=1, help="With --fusion: size of the fused embedding (default 7).")] = None,
    fusion_preset: Annotated[str | None, typer.Option(callback=_known_fusion_preset, help="With --fusion: paper (default: the paper's transformer) or no-dropout (the same transformer without dropout; the demo's choice, better for runs of a few thousand steps).")] = None,
    cube: Annotated[
        list[Path] | None,
        typer.Option("--cube", help="Training cube (repeat for several sites). Default: the modality's sample cube."),
    ] = None,
    preset: Annotated[str | None, typer.Option(callback=_known_preset, help="Encoder architecture (not with --fusion): paper (default), dense (paper's widths, fully convolutional: >100x faster to embed), small or tiny.")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs to train (early stopping may end sooner).")] = 200,
    max_steps: Annotated[
        int,
        typer.Option(callback=_steps_or_unlimited, help="Most optimiser steps; -1 for no limit. The learning-rate warm-up (200 steps), the "
                     "MAE-only start (300) and the ramp into the full loss (600) shrink to 10 %, 20 % and 30 % "
                     "of a shorter run."),
    ] = -1,
    learning_rate_decay: Annotated[
        str,
        typer.Option(help="After the warm-up: plateau (the paper's: cut the rate when validation stalls) or "
                     "cosine (decay to 0 at --max-steps; better for short runs)."),
    ] = "plateau",
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step.")] = 16,
    learning_rate: Annotated[float | None, typer.Option(callback=_positive, help="Peak AdamW learning rate (default 1e-4, the paper's).")] = None,
    loss_weights: Annotated[
        str | None,
        typer.Option(
            help="Encoder loss as mae=W,ssim=W,sam=W[,center=W] (default: the modality's, e.g. S2 "
            "mae=0.33,ssim=0.02,sam=0.65). Recorded in encoder.json.",
        ),
    ] = None,
    device: DeviceOption = "auto",
    mask_variable: MaskVariableOption = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data and result.")] = 42,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder. Default: runs/<modality>.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --out from its last saved state (training_state.ckpt, saved after each "
            "epoch). After an interrupted run: the same command with --resume if that file exists, else without.",
        ),
    ] = False,
) -> None:
    """Train a sensor's context-aware autoencoder, or (--fusion) the fusion over trained ones.

    [bold]cae train --modality s2[/bold]: samples are 11 dates x 15 x 15 pixels around a
    centre pixel; whole spatial blocks (sites) are held out for validation and test. The run
    folder gets encoder.safetensors, encoder.json (bands, preprocessing, preset, metrics per
    epoch, held-out test scores) and loss_curve.png.

    [bold]cae train --fusion --cube s2.zarr --cube s1.zarr[/bold]: the encoders of the cubes'
    modalities are loaded frozen (found under --runs, or given with --encoder NAME=DIR) and
    only the fusion transformer trains. Writes fusion.safetensors and fusion.json, which
    records each encoder's content hash. [bold]--modality s2 --modality indices[/bold] fuses
    those two, the derived one read from the S2 cube.
    """
    from cae.errors import InputError
    from cae.plugins.manager import installed_modalities
    from cae.training.config import TrainConfig
    from cae.training.encoder import train_encoder

    if not fusion and len(modalities or ()) != 1:
        raise InputError("give either --modality NAME (train an encoder) or --fusion (train fusion)")
    if fusion and preset is not None:
        raise InputError("--preset chooses an encoder's architecture; fusion trains over the encoders as they are "
                         "(its size: --dims)")
    if not fusion and fusion_preset is not None:
        raise InputError("--fusion-preset chooses fusion's transformer; add --fusion, or choose an encoder's with --preset")
    settings = dict(preset=preset, epochs=epochs, max_steps=max_steps, batch_size=batch_size, device=device, seed=seed,
                    learning_rate_decay=learning_rate_decay)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    if loss_weights is not None:
        settings["loss_weights"] = _parse_loss_weights(loss_weights)
    config = TrainConfig(**settings)
    if fusion:
        _train_fusion(cube, runs, encoder or [], modalities, dims, fusion_preset, config, out or runs / "fusion", resume,
                      mask_variable)
        return
    [modality] = modalities
    spec = installed_modalities().spec(modality)  # an unknown name fails here, listing the installed ones
    if not cube:
        if spec.sample_cube is None:
            raise InputError(f"{modality} has no sample cube to train on; give --cube")
        cube = [spec.sample_cube()]
    result = train_encoder(modality, cube, out or Path("runs") / modality, config, resume=resume, mask_variable=mask_variable)
    test = result.metadata.get("test", {})
    console.print(f"saved the {modality} encoder in [bold]{result.run_dir}[/bold]")
    if test:
        console.print(
            f"held-out centre MAE {test['center_mae']:.4f} "
            f"(predicting each patch's mean: {test['patch_mean_center_mae']:.4f}; {test['samples']} samples)"
        )
        warn_if_weak(test)


def warn_if_weak(test: dict) -> None:
    """A clear warning when an encoder reconstructs held-out centres worse than the patch mean."""
    if test and not test.get("beats_patch_mean", True):
        console.print(
            "[bold yellow]warning:[/bold yellow] this encoder is weaker than predicting each patch's mean "
            "on the held-out sites, so its latent carries little about the centre pixel; train longer "
            "(--max-steps, --epochs) or on more data before using it (flagged in encoder.json as "
            "test.beats_patch_mean = false)"
        )


def _train_fusion(
    cubes, runs: Path, encoder_options: list[str], modalities: list[str] | None, dims: int | None, preset: str | None, config,
    out: Path, resume: bool,
    mask_variable: str | None,
) -> None:
    import dataclasses

    from cae.data import demo_cube_path
    from cae.errors import InputError
    from cae.fusion.model import FUSION_PRESETS
    from cae.fusion.training import train_fusion

    encoders = {}
    for option in encoder_options:
        name, separator, folder = option.partition("=")
        if not separator or not name or not folder:
            raise InputError(f"--encoder takes NAME=DIR, got {option!r}")
        encoders[name] = Path(folder)
    chosen = None  # neither option given: the paper's preset, or on --resume the one the run was started with
    if preset is not None or dims is not None:
        base = FUSION_PRESETS[preset or "paper"]
        chosen = dataclasses.replace(base, embedding_dim=dims or base.embedding_dim)
    result = train_fusion(
        cubes or [demo_cube_path("s2")], out, config, runs=runs, encoders=encoders, modalities=modalities, preset=chosen,
        resume=resume,
        mask_variable=mask_variable,
    )
    console.print(f"saved the fusion model in [bold]{result.run_dir}[/bold]")
    for name, scores in result.metadata.get("test", {}).items():
        console.print(
            f"{name}: held-out centre MAE through fusion {scores['fusion_center_mae']:.4f}, "
            f"through its own autoencoder {scores['autoencoder_center_mae']:.4f} ({scores['samples']} samples)"
        )


def _parse_loss_weights(text: str):
    """`mae=1,ssim=0,sam=0[,center=1]` -> LossWeights; terms not named are 0 (centre weight 1)."""
    from cae.errors import InputError
    from cae.plugins.contract import LossWeights

    names = {"mae": "mae", "ssim": "ssim", "sam": "sam", "center": "center_weight"}
    values = {"mae": 0.0}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        try:
            values[names[name]] = float(value)
        except (KeyError, ValueError):
            raise InputError(f"--loss-weights takes mae=W,ssim=W,sam=W[,center=W]; cannot read {part!r}") from None
    return LossWeights(**values)
