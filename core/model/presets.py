"""Architecture presets of the context autoencoder, kept as data apart from the module code.

A preset fixes the widths and depths of `cae.model.autoencoder.ContextAutoencoder`; the latent size
and the temporal reduction belong to a modality and are constructor arguments instead. Presets
are saved as JSON beside the weights, so a checkpoint says which architecture it holds.
`paper` is the default and reproduces DESIGN section 4; `dense` has the paper's widths and a
frame encoder that is fully convolutional (unpadded, with local attention, its token sampled
from the map at a 4 x 4 grid), so that `cae embed` runs it once over a whole tile; `small` and
`tiny` keep the structure of `paper` with fewer channels, for CPU work and tests.

Presets follow one idiom across cae: a frozen dataclass with a `name`, registered by name in
a dict (`PRESETS` here, `cae.fusion.model.FUSION_PRESETS`, `cae.evaluation.gpp.head.HEAD_PRESETS`),
saved with `to_dict` beside what it sizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from cae.geometry import PATCH_SIZE

#: The frame encoders a preset can name (see `cae.model.autoencoder`): the paper's CNN that pads and
#: downsamples each 15 x 15 patch to a 4 x 4 token map, or a fully convolutional one.
FRAME_ENCODERS = ("strided", "dense")
#: Offsets from the centre pixel of the 4 x 4 cells a `dense` frame encoder samples its token
#: map at: 4 pixels apart, as the strided encoder's 4 x 4 map is, and symmetric about the centre.
TOKEN_CELL_OFFSETS = (-6, -2, 2, 6)


@dataclass(frozen=True)
class AutoencoderPreset:
    """Widths and depths of the autoencoder; the defaults are the paper's numbers."""

    name: str = "paper"
    #: Channels after the 1x1 stem, through the first multi-scale block (15 x 15).
    stem_channels: int = 149
    #: Channels of the second block (7 x 7).
    block2_channels: int = 128
    #: Channels after the second downsampling (4 x 4).
    block3_channels: int = 64
    #: Channels of the 4 x 4 token map; one date's token has 16 x token_channels features.
    token_channels: int = 16
    #: Kernel sizes of the parallel branches of the multi-scale blocks.
    multiscale_kernels: tuple[int, ...] = (3, 7)
    #: "strided" (the paper's) or "dense": see FRAME_ENCODERS.
    frame_encoder: str = "strided"
    #: Side of the neighbourhood the dense encoder's first attention pools over (channel gate)
    #: and convolves (spatial gate), in place of the whole patch and a 7 x 7 kernel.
    local_window: int = 3
    #: Channel-attention MLP reduction and spatial-attention kernel of the CBAM blocks.
    attention_reduction: int = 8
    attention_kernel: int = 7
    #: The same two for the CBAM at 4 x 4, where a 7 x 7 kernel would see mostly padding.
    token_attention_reduction: int = 2
    token_attention_kernel: int = 3
    attention_heads: int = 8
    transformer_layers: int = 3
    feedforward_size: int = 8
    dropout: float = 0.25
    spatial_dropout: float = 0.07
    #: Hidden channels of the decoder's two-convolution head (our choice: DESIGN gives none).
    head_channels: int = 16
    #: Width each date's token is projected to before the temporal reduction.
    reduced_token_dim: int = 16
    #: Largest cumulative day offset with its own positional embedding; larger ones share it.
    max_day_offset: int = 200
    #: The centre pixel's own path (decision, docs/embedding-quality.md): the latent's head
    #: also reads the centre pixel of the centre date, and the decoder predicts that pixel
    #: from the latent through a small MLP of `centre_hidden` units.
    centre_path: bool = True
    centre_hidden: int = 64

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"preset {self.name!r} is invalid: " + "; ".join(problems))

    @property
    def reach(self) -> int:
        """Pixels on each side that one value of the dense encoder's map depends on: its
        multi-scale kernels, the local attention (pooling, then a convolution, over
        `local_window`) and the 3 x 3 max-pool."""
        return max(self.multiscale_kernels) // 2 + (self.local_window - 1) + 1

    @property
    def halo(self) -> int:
        """Pixels the input reaches beyond the 15 x 15 patch on each side: 0 for the strided
        encoder, which zero-pads; for the dense one, what its outermost cells reach."""
        if self.frame_encoder == "strided":
            return 0
        return max(TOKEN_CELL_OFFSETS) + self.reach - PATCH_SIZE // 2

    @property
    def token_dim(self) -> int:
        """Features of one date's token: token_channels x 4 x 4."""
        return self.token_channels * 16

    def problems(self) -> list[str]:
        """Why this preset cannot build a model; empty when it can."""
        found = []
        widths = ("stem_channels", "block2_channels", "block3_channels", "token_channels", "head_channels",
                  "attention_reduction", "token_attention_reduction", "attention_heads",
                  "transformer_layers", "feedforward_size", "reduced_token_dim", "max_day_offset", "centre_hidden")
        found += [f"{name} must be >= 1" for name in widths if getattr(self, name) < 1]
        if self.frame_encoder not in FRAME_ENCODERS:
            found.append(f"frame_encoder must be one of {FRAME_ENCODERS}, got {self.frame_encoder!r}")
        kernels = (*self.multiscale_kernels, self.attention_kernel, self.token_attention_kernel, self.local_window)
        if not self.multiscale_kernels or any(k < 1 or k % 2 == 0 for k in kernels):
            found.append(f"kernel sizes must be odd and >= 1: {kernels}")
        if self.attention_heads >= 1 and self.token_dim % self.attention_heads:
            found.append(f"token_dim {self.token_dim} is not divisible by {self.attention_heads} heads")
        if not (0 <= self.dropout < 1 and 0 <= self.spatial_dropout < 1):
            found.append("dropout rates must be in [0, 1)")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples become lists)."""
        data = asdict(self)
        data["multiscale_kernels"] = list(self.multiscale_kernels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AutoencoderPreset:
        """Rebuild a preset saved by `to_dict`; fields it lacks take their defaults.

        Unknown keys are an error rather than ignored: they mean the JSON was written by a
        newer or different architecture, and silently dropping them would build the wrong model.
        """
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preset fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "multiscale_kernels" in values:
            values["multiscale_kernels"] = tuple(values["multiscale_kernels"])
        return cls(**values)


PRESETS: dict[str, AutoencoderPreset] = {
    preset.name: preset
    for preset in (
        AutoencoderPreset(),
        # The paper's widths with the fully convolutional frame encoder: inputs are 25 x 25
        # (a 5-pixel halo), and `cae embed` runs the encoder once per tile, not per patch.
        AutoencoderPreset(name="dense", frame_encoder="dense"),
        AutoencoderPreset(
            name="small",
            stem_channels=48,
            block2_channels=32,
            block3_channels=32,
            token_channels=8,
            attention_heads=4,
            transformer_layers=2,
            feedforward_size=32,
        ),
        AutoencoderPreset(
            name="tiny",
            stem_channels=8,
            block2_channels=8,
            block3_channels=8,
            token_channels=4,
            attention_reduction=2,
            attention_heads=2,
            transformer_layers=1,
            feedforward_size=8,
            head_channels=8,
            reduced_token_dim=8,
        ),
    )
}


def get_preset(name: str) -> AutoencoderPreset:
    """The registered preset called `name`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None
