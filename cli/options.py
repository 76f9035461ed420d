"""Options shared by several commands, declared once so names and help stay consistent.

Short flags mean one thing everywhere: `-m` is `--modality`, `-o` is `--out`.
"""

from pathlib import Path
from typing import Annotated

import typer

ModalityOption = Annotated[str, typer.Option("--modality", "-m", help="Modality name, e.g. s1 or s2 (see `cae modalities`).")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Where to write the result.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
MaskVariableOption = Annotated[
    str | None,
    typer.Option("--mask-variable", help="A cube variable marking invalid pixels (non-zero or NaN = invalid)."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="cpu, cuda, or auto (cuda when available).")]
