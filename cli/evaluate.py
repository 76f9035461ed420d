"""`cae evaluate`: how good are the encoders and the embedding (DESIGN.md section 7)."""

import typer

app = typer.Typer(
    help="Evaluate trained models and embeddings: reconstruction vs PCA, GPP at flux towers, maps.",
    no_args_is_help=True,
)
