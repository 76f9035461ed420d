"""Stage 2: a small transformer that fuses the latents of frozen modality encoders (DESIGN 5).

One token per modality: its latent projected to `width`, plus a learned modality embedding
and an embedding of the day gap between that modality's acquisition and the sample's date.
A modality missing on a date is left out of attention and of the mean over tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class FusionPreset:
    """Sizes of the fusion transformer; the defaults are the paper's.

    Presets follow one idiom across cae (see `cae.model.presets`): a frozen dataclass with
    a `name`, registered by name in a dict (`FUSION_PRESETS`), saved beside the weights.
    """

    name: str = "paper"
    embedding_dim: int = 7
    width: int = 128
    heads: int = 4
    layers: int = 2
    feedforward_size: int = 256
    dropout: float = 0.1
    max_gap_days: int = 350

    def to_dict(self) -> dict:
        return asdict(self)


FUSION_PRESETS = {
    "paper": FusionPreset(),
    # The paper's sizes without dropout, which the demo trains: over frozen encoders' latents
    # a CPU-sized run underfits rather than overfits, and on the real Romania cube dropout
    # costs held-out centre MAE (0.0212 against 0.0175 at 500 steps, 0.0135 against 0.0120 at
    # 1,500; the encoder alone 0.0116; docs/embedding-quality.md, "Fusion").
    "no-dropout": FusionPreset(name="no-dropout", dropout=0.0),
}


class FusionModel(nn.Module):
    """Latents of several modalities -> one embedding, and heads back to each latent."""

    def __init__(self, latent_dims: dict[str, int], preset: FusionPreset = FUSION_PRESETS["paper"]) -> None:
        super().__init__()
        if not latent_dims:
            raise ValueError("fusion needs at least one modality")
        self.modalities = tuple(latent_dims)
        self.preset = preset
        width = preset.width
        self.project = nn.ModuleDict({name: nn.Linear(dim, width) for name, dim in latent_dims.items()})
        self.modality_embedding = nn.Embedding(len(self.modalities), width)
        self.gap_embedding = nn.Embedding(preset.max_gap_days + 1, width)
        layer = nn.TransformerEncoderLayer(
            width, preset.heads, preset.feedforward_size, preset.dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, preset.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.to_embedding = nn.Sequential(nn.Linear(width, preset.embedding_dim), nn.Softplus())
        self.heads = nn.ModuleDict({name: nn.Linear(preset.embedding_dim, dim) for name, dim in latent_dims.items()})

    def embed(self, latents: dict[str, Tensor], gap_days: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """Latents (B, d_m), day gaps (B,) and presence (B,) bool per modality -> (B, 7)."""
        tokens = []
        for position, name in enumerate(self.modalities):
            gap = gap_days[name].abs().round().long().clamp(0, self.preset.max_gap_days)  # (B,)
            token = self.project[name](latents[name])  # (B, W)
            token = token + self.modality_embedding.weight[position] + self.gap_embedding(gap)
            tokens.append(token)
        tokens = torch.stack(tokens, dim=1)  # (B, M, W)
        keep = torch.stack([present[name] for name in self.modalities], dim=1)  # (B, M)
        if not bool(keep.any(dim=1).all()):
            raise ValueError("every sample needs at least one modality present")
        mixed = self.transformer(tokens, src_key_padding_mask=~keep)  # (B, M, W)
        weights = keep.unsqueeze(-1).to(mixed.dtype)  # (B, M, 1)
        pooled = (mixed * weights).sum(1) / weights.sum(1)  # (B, W): mean over present tokens
        return self.to_embedding(self.norm(pooled))  # (B, 7)

    def forward(
        self, latents: dict[str, Tensor], gap_days: dict[str, Tensor], present: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """(embedding (B, 7), each modality's latent predicted back from it (B, d_m))."""
        embedding = self.embed(latents, gap_days, present)
        return embedding, {name: head(embedding) for name, head in self.heads.items()}
