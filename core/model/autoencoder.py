"""The context-aware autoencoder of one modality (DESIGN section 4).

A sample is 11 dates of a 15 x 15 patch around a centre pixel. Each date's frame is squeezed
by a small CNN into one token; a transformer lets the 11 tokens of the sample attend to each
other, knowing how many days lie between them; the tokens are then reduced over features and
over time into a latent of a few numbers that describes the centre pixel in its spatial and
temporal context. The decoder mirrors the path back to the whole (11, C, 15, 15) patch.

Shapes: B samples, T = 11 dates, C bands, N = B * T frames, D = token size (256 in `paper`),
r = reduced token size (16), R = dates kept after the temporal reduction, d = latent size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cae.geometry import CENTER_DATE, N_DATES, PATCH_SIZE
from cae.model.presets import PRESETS, TOKEN_CELL_OFFSETS, AutoencoderPreset, get_preset
from cae.plugins.contract import ModalitySpec

#: Side of the token map: 15 -> 7 -> 4 in the encoder.
TOKEN_SIZE = 4


def crop(x: Tensor, height: int, width: int) -> Tensor:
    """The central height x width window of the last two axes."""
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


class ChannelAttention(nn.Module):
    """Per-channel gate from the average- and max-pooled map through a shared MLP.

    Pooled over the whole map (`window` None, the paper's), or over each window x window
    neighbourhood (valid: the gate map is window - 1 pixels smaller than the input).
    """

    def __init__(self, channels: int, reduction: int, window: int | None = None):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.window = window
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, C, 1, 1) or (N, C, H', W')
        if self.window is None:
            average, maximum = x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
        else:
            average = F.avg_pool2d(x, self.window, stride=1)
            maximum = F.max_pool2d(x, self.window, stride=1)
        return torch.sigmoid(self.mlp(average) + self.mlp(maximum))


class SpatialAttention(nn.Module):
    """Per-pixel gate from the channel max and mean through one convolution ("same" when
    padded; valid otherwise, kernel_size - 1 pixels smaller than the input)."""

    def __init__(self, kernel_size: int, padded: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2 if padded else 0)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, 1, H, W) or smaller
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional block attention: channel gate, then spatial gate, added to the input.

    The residual keeps the block close to identity at the start of training, so stacking
    attention behind every convolution does not shrink the signal. `local`: the channel gate
    pools over kernel_size x kernel_size neighbourhoods instead of the whole map, and the
    spatial gate's convolution is valid, so every output depends only on its neighbours
    (kernel_size - 1 pixels on each side, by which the output is smaller than the input).
    """

    def __init__(self, channels: int, reduction: int, kernel_size: int, local: bool = False):
        super().__init__()
        self.local = local
        self.channel = ChannelAttention(channels, reduction, kernel_size if local else None)
        self.spatial = SpatialAttention(kernel_size, padded=not local)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W)
        gate = self.channel(x)
        attended = (crop(x, *gate.shape[-2:]) if self.local else x) * gate
        gate = self.spatial(attended)
        height, width = gate.shape[-2:]
        return crop(x, height, width) + crop(attended, height, width) * gate


class ConvAttention(nn.Module):
    """A same-size convolution followed by CBAM (with `local`, pointwise: 1x1 convolution,
    and CBAM over each pixel alone)."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int, attention_kernel: int, local: bool = False):
        super().__init__()
        kernel = 1 if local else 3
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        self.attention = CBAM(out_channels, reduction, 1 if local else attention_kernel, local=local)

    def forward(self, x: Tensor) -> Tensor:  # (N, Cin, H, W) -> (N, Cout, H, W)
        return self.attention(self.conv(x))


class MultiScaleBlock(nn.Module):
    """Parallel convolutions of several kernel sizes, fused by a 1x1 convolution, then CBAM.

    Small kernels see texture, large ones the neighbourhood of a field. Unpadded (`padded`
    False), the branches are valid convolutions, each on the part of the input that gives
    the common output size (H, W) from (H + 2h, W + 2h), h = max(kernel_sizes) // 2, and the
    CBAM is local: the block then looks only at neighbours and never at the zeros of a patch
    border, so it gives the same values on a patch as over the whole tile it is cut from.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: tuple[int, ...],
        reduction: int,
        attention_kernel: int,
        padded: bool = True,
    ):
        super().__init__()
        self.halo = 0 if padded else max(kernel_sizes) // 2
        self.kernel_sizes = kernel_sizes
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, k, padding=k // 2 if padded else 0),
                nn.LeakyReLU(0.1),
            )
            for k in kernel_sizes
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(len(kernel_sizes) * out_channels, out_channels, 1), nn.LeakyReLU(0.01)
        )
        self.attention = CBAM(out_channels, reduction, attention_kernel, local=not padded)

    def features(self, x: Tensor) -> Tensor:  # (N, Cin, H + 2h, W + 2h) -> (N, Cout, H, W)
        """Everything before the attention."""
        height, width = x.shape[-2] - 2 * self.halo, x.shape[-1] - 2 * self.halo
        scales = [
            branch(x if self.halo == 0 else crop(x, height + k - 1, width + k - 1))
            for k, branch in zip(self.kernel_sizes, self.branches)
        ]
        return self.fuse(torch.cat(scales, dim=1))

    def forward(self, x: Tensor) -> Tensor:  # (N, Cin, H + 2h, W + 2h) -> (N, Cout, H, W), smaller when local
        return self.attention(self.features(x))


def _init_weights(module: nn.Module, gain: float) -> None:
    """Zero-mean normal weights with variance gain**2 / fan_in and zero biases, in place.

    Fan-in is the number of inputs one output sums: for a transposed convolution of stride s
    that is in_channels * k**2 / s**2 on average. PyTorch's default (uniform with variance
    1 / (3 fan_in), biases of the same size) shrinks the signal about 3-fold per layer and
    lets the biases dominate; through the dozen layers here the differences between samples
    fell 20- to 1000-fold before the latent and again before the output, and training found
    only the dataset mean. He initialisation (gain sqrt(2), for the ReLU-like SiLU and
    LeakyReLU) and LeCun initialisation (gain 1, for SELU and linear outputs) keep it.
    """
    if isinstance(module, nn.ConvTranspose2d):
        kernel = module.weight.shape[2] * module.weight.shape[3]
        stride = module.stride[0] * module.stride[1]
        fan_in = module.in_channels * max(kernel / stride, 1.0)
    elif isinstance(module, (nn.Conv2d, nn.Linear)):
        fan_in = module.weight[0].numel()
    else:
        return
    nn.init.normal_(module.weight, std=gain / math.sqrt(fan_in))
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _pool(x: Tensor, padded: bool = True) -> Tensor:
    """3x3 max-pool with stride 1: spreads strong responses to neighbours. Padded, it keeps
    the size; unpadded, it looks only at real neighbours and is 2 pixels smaller."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1 if padded else 0)


class FrameEncoder(nn.Module):
    """One date's frame (C, 15, 15) -> a token map (token_channels, 4, 4): the paper's CNN.

    All 11 frames of a sample share these weights; nothing here mixes frames or samples.
    Every layer zero-pads at the patch border, and CBAM pools over the whole patch, so a
    frame's token has to be computed on its own patch.
    """

    halo = 0

    def __init__(self, in_channels: int, preset: AutoencoderPreset):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, preset.stem_channels, 1), nn.SiLU())
        self.multiscale = MultiScaleBlock(
            preset.stem_channels, preset.stem_channels, preset.multiscale_kernels,
            preset.attention_reduction, preset.attention_kernel,
        )
        self.down1 = nn.Sequential(
            nn.Conv2d(preset.stem_channels, preset.block2_channels, 2, stride=2),
            nn.SiLU(),
            nn.Dropout2d(preset.spatial_dropout),
        )
        self.block2 = ConvAttention(
            preset.block2_channels, preset.block2_channels,
            preset.attention_reduction, preset.attention_kernel,
        )
        self.down2 = nn.Sequential(
            nn.Conv2d(preset.block2_channels, preset.block3_channels, 2, stride=2, padding=1),
            nn.SiLU(),
            nn.Dropout2d(preset.spatial_dropout),
        )
        self.to_token = ConvAttention(
            preset.block3_channels, preset.token_channels,
            preset.token_attention_reduction, preset.token_attention_kernel,
        )

    def forward(self, x: Tensor) -> Tensor:  # (N, C, 15, 15) -> (N, token, 4, 4)
        stem = self.stem(x)
        x = stem + _pool(self.multiscale(stem))  # (N, stem, 15, 15)
        x = self.down1(x)  # (N, block2, 7, 7)
        x = x + _pool(self.block2(x))  # (N, block2, 7, 7)
        x = self.down2(x)  # (N, block3, 4, 4)
        return self.to_token(x)  # (N, token, 4, 4)


class DenseFrameEncoder(nn.Module):
    """One date's frame (C, 15 + 2h, 15 + 2h) -> a token map (token_channels, 4, 4), computed
    by a fully convolutional network that `cae embed` can run once over a whole tile.

    The paper's six steps with its widths, made translation-equivariant (our design, for
    `cae embed`'s speed; DESIGN section 6 keeps CBAM global and pays a per-patch remainder):
    valid convolutions, CBAM pooling over local neighbourhoods, and pointwise layers in place
    of the stride-2 convolutions. The token is the resulting map read at 4 x 4 cells 4 pixels
    apart (`TOKEN_CELL_OFFSETS`), as the strided encoder's cells are. Each value of the map
    depends only on the input within `reach` pixels, so a patch's token equals the tile's map
    read at the same cells: exact sharing between all overlapping patches.
    """

    def __init__(self, in_channels: int, preset: AutoencoderPreset):
        super().__init__()
        self.reach, self.halo = preset.reach, preset.halo
        self.stem = nn.Sequential(nn.Conv2d(in_channels, preset.stem_channels, 1), nn.SiLU())
        self.multiscale = MultiScaleBlock(
            preset.stem_channels, preset.stem_channels, preset.multiscale_kernels,
            preset.attention_reduction, preset.local_window, padded=False,
        )
        self.mix1 = nn.Sequential(
            nn.Conv2d(preset.stem_channels, preset.block2_channels, 1), nn.SiLU(), nn.Dropout2d(preset.spatial_dropout)
        )
        self.block2 = ConvAttention(
            preset.block2_channels, preset.block2_channels, preset.attention_reduction, 1, local=True
        )
        self.mix2 = nn.Sequential(
            nn.Conv2d(preset.block2_channels, preset.block3_channels, 1), nn.SiLU(), nn.Dropout2d(preset.spatial_dropout)
        )
        self.to_token = ConvAttention(
            preset.block3_channels, preset.token_channels, preset.token_attention_reduction, 1, local=True
        )

    def feature_map(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, token, H - 2 reach, W - 2 reach): every pixel's cell values."""
        stem = self.stem(x)
        x = _pool(self.multiscale(stem), padded=False)
        x = crop(stem, *x.shape[-2:]) + x
        x = self.mix1(x)
        x = x + self.block2(x)
        x = self.mix2(x)
        return self.to_token(x)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, 15 + 2h, 15 + 2h) -> (N, token, 4, 4)
        feature_map = self.feature_map(x)
        cells = torch.tensor(TOKEN_CELL_OFFSETS, device=x.device) + feature_map.shape[-1] // 2
        return feature_map[..., cells[:, None], cells[None, :]]


class FrameDecoder(nn.Module):
    """A token map (token_channels, 4, 4) -> one date's frame (C, 15, 15), mirroring the encoder."""

    def __init__(self, out_channels: int, preset: AutoencoderPreset):
        super().__init__()
        self.block1 = ConvAttention(
            preset.token_channels, preset.token_channels,
            preset.token_attention_reduction, preset.token_attention_kernel,
        )
        self.up1 = nn.Sequential(  # (4 - 1) * 2 + 2 = 8
            nn.ConvTranspose2d(preset.token_channels, preset.block3_channels, 2, stride=2),
            nn.SiLU(),
            nn.Dropout2d(preset.spatial_dropout),
        )
        self.block2 = ConvAttention(
            preset.block3_channels, preset.block3_channels,
            preset.attention_reduction, preset.attention_kernel,
        )
        # (8 - 1) * 2 - 2 * 1 + 3 = 15; a 3x3 kernel overlaps its neighbours at stride 2, so
        # every output pixel gets a contribution without resorting to output_padding.
        self.up2 = nn.Sequential(
            nn.ConvTranspose2d(preset.block3_channels, preset.block2_channels, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Dropout2d(preset.spatial_dropout),
        )
        self.multiscale = MultiScaleBlock(
            preset.block2_channels, preset.stem_channels, preset.multiscale_kernels,
            preset.attention_reduction, preset.attention_kernel,
        )
        # The encoder's multi-scale block has a residual; DESIGN's decoder "mirrors it", so
        # this one gets one too (a 1x1 projection where the widths differ, 128 -> 149).
        # Without it the block had to carry the whole signal through its branches.
        self.skip = (
            nn.Identity() if preset.block2_channels == preset.stem_channels
            else nn.Conv2d(preset.block2_channels, preset.stem_channels, 1)
        )
        # Model inputs are in [0, 1] by construction (DESIGN 2): reflectance clipped to [0, 1],
        # backscatter mapped from [-30, 5] dB. The paper does not say how the output is bounded
        # (the public code leaves it linear). A sigmoid keeps every reconstruction a valid input
        # value, as SSIM's constants (data range 1) assume, and keeps SAM away from the zero and
        # negative spectra a linear output can produce. Its cost: exact 0 and 1 (clipped values)
        # are reached only asymptotically, within 1e-3 at a logit of -7 or 7.
        #
        # "Two 3x3 convs to C": the hidden layer has `head_channels` channels (decision). With C
        # channels there, as we first had, a single-band sensor (S1 with VH only) squeezed the
        # whole frame through one SiLU channel, which went negative everywhere and passed no
        # gradient. With `head_channels` SiLU channels, all of them still died on the real
        # Poland VH cube within 100 steps (pre-activations near -55): the hidden layer is a
        # LeakyReLU, whose negative side keeps passing gradient. Nothing normalises the
        # features before the head: a per-frame normalisation (we tried GroupNorm) removes each
        # frame's overall level, which is exactly what the latent has to bring back, and the
        # decoder learnt to use the latent several times more slowly with it. The last
        # convolution starts at zero and its bias at the data's band means
        # (`ContextAutoencoder.initialise_from_data`), so no early step saturates the sigmoid.
        self.head = nn.Sequential(
            nn.Conv2d(preset.stem_channels, preset.head_channels, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(preset.head_channels, out_channels, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:  # (N, token, 4, 4)
        x = x + _pool(self.block1(x))  # (N, token, 4, 4)
        x = self.up1(x)  # (N, block3, 8, 8)
        x = x + _pool(self.block2(x))  # (N, block3, 8, 8)
        x = self.up2(x)  # (N, block2, 15, 15)
        x = self.skip(x) + _pool(self.multiscale(x))  # (N, stem, 15, 15)
        return self.head(x)  # (N, C, 15, 15)


class ContextAutoencoder(nn.Module):
    """Encoder and decoder of one modality; the latent is the modality's representation.

    `latent_dim` (d) and `temporal_reduction` (R, tokens kept after reducing over time) are
    the modality's choice (S1: d 2, R 7; S2: d 9, R 6); the preset fixes everything else.
    Encoder and decoder share the day-offset embedding and the transformer.
    """

    def __init__(
        self,
        in_channels: int,
        latent_dim: int,
        temporal_reduction: int,
        preset: AutoencoderPreset = PRESETS["paper"],
    ):
        super().__init__()
        self.in_channels = in_channels
        self.latent_dim = latent_dim
        self.temporal_reduction = temporal_reduction
        self.preset = preset
        token_dim, reduced = preset.token_dim, preset.reduced_token_dim

        encoder = DenseFrameEncoder if preset.frame_encoder == "dense" else FrameEncoder
        self.frame_encoder = encoder(in_channels, preset)
        #: Side of the input patches: 15, plus the halo the dense encoder reads.
        self.input_size = PATCH_SIZE + 2 * preset.halo
        self.frame_decoder = FrameDecoder(in_channels, preset)
        self.day_embedding = nn.Embedding(preset.max_day_offset + 1, token_dim)
        layer = nn.TransformerEncoderLayer(
            d_model=token_dim,
            nhead=preset.attention_heads,
            dim_feedforward=preset.feedforward_size,
            dropout=preset.dropout,
            batch_first=True,
            # Pre-norm (decision; the paper does not say which): the tokens pass the layers
            # on a residual path that no LayerNorm sits on, so what a frame's content adds
            # to its token reaches the reduction as is. Post-norm re-normalised every token
            # after each layer, and with the day embedding dominating the sum at the start,
            # the content part was squashed and the latent ended up nearly constant.
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(
            layer, num_layers=preset.transformer_layers, enable_nested_tensor=False
        )

        self.reduce_features = nn.Sequential(nn.Linear(token_dim, reduced), nn.SELU())
        self.reduce_time = nn.Sequential(nn.Linear(N_DATES, temporal_reduction), nn.SELU())
        # Linear 16R -> d, Softplus (DESIGN 4), with a batch normalisation between them
        # (decision). In eval mode it is a fixed affine map, so the trained encoder computes
        # exactly the paper's Softplus(linear) (the two fold into one linear layer); in
        # training it keeps each latent's pre-activation centred with a learnt spread. Without
        # it Adam, which takes full-size steps even on vanishing gradients, drove the
        # pre-activations of the tiny S1 encoder's two latents to about -18 in 3 of 5 runs of
        # the demo's settings (seeds 1 and 3, and seed 42 on CI's machine): Softplus was flat
        # there, the latent constant, and the decoder learnt the patch mean and never left it
        # (0.042 vs the patch mean's 0.040 held-out centre MAE). With it, the same runs
        # reached 0.018 vs 0.022 (seeds 1, 3) and 0.025 vs 0.040 (seed 42) in 800 steps.
        #
        # The centre path (decision, docs/embedding-quality.md): the head also reads the
        # centre pixel of the centre date, standardised with the training data's band
        # statistics, and `centre_head` predicts that pixel back from the latent. Without it,
        # on the real Romania cube, the latent kept the centre pixel's brightness but not its
        # spectral shape (held-out centre MAE 0.026-0.033 whatever the dropout, schedule,
        # width or loss balance; NDVI R2 from the latent 0.1-0.3); with it, 0.006 in the
        # same 1,000 steps. The token path still brings the context in space and time.
        centre_inputs = in_channels if preset.centre_path else 0
        self.to_latent = nn.Sequential(
            nn.Linear(reduced * temporal_reduction + centre_inputs, latent_dim),
            nn.BatchNorm1d(latent_dim),
            nn.Softplus(),
        )
        self.register_buffer("band_means", torch.full((in_channels,), 0.5))
        self.register_buffer("band_stds", torch.ones(in_channels))

        self.from_latent = nn.Sequential(
            nn.Linear(latent_dim, reduced * temporal_reduction), nn.Softplus()
        )
        self.expand_time = nn.Sequential(nn.Linear(temporal_reduction, N_DATES), nn.SELU())
        self.expand_features = nn.Sequential(nn.Linear(reduced, token_dim), nn.SELU())
        self.centre_head = (
            nn.Sequential(nn.Linear(latent_dim, preset.centre_hidden), nn.SiLU(), nn.Linear(preset.centre_hidden, in_channels))
            if preset.centre_path
            else None
        )
        self._initialise()

    def _initialise(self) -> None:
        """Signal-preserving initialisation (decision; the paper does not give one).

        Convolutions of the frame CNNs: He (they feed SiLU or LeakyReLU, or a residual sum);
        the attention gates inside CBAM keep PyTorch's default, they only scale. The linear
        layers of the bottleneck: LeCun, the initialisation SELU is made for. The transformer
        keeps PyTorch's own (Xavier) initialisation.

        Two layers start from what the method asks of them rather than at random. The
        reduction over time weighs the 11 dates as the loss does (0.1 ** |k - centre|), so the
        latent starts as a summary of the centre date; the expansion over time gives every
        date the mean of the R reduced tokens. A little noise (a tenth of LeCun's) breaks the
        symmetry between their outputs. With random weights there, the centre date reached the
        latent mixed with ten others at equal strength, and on the real Romania cube the tiny
        preset had not learnt to single it out after 1,500 steps.
        """
        for cnn in (self.frame_encoder, self.frame_decoder):
            for name, module in cnn.named_modules():
                if ".attention." not in f".{name}.":
                    _init_weights(module, math.sqrt(2.0))
        # The last convolution starts at zero, so every reconstruction starts at the sigmoid of
        # its bias (`initialise_from_data`); it receives gradients from the first step.
        nn.init.zeros_(self.frame_decoder.head[-2].weight)
        for block in (self.reduce_features, self.to_latent, self.from_latent, self.expand_features):
            _init_weights(block[0], 1.0)
        if self.centre_head is not None:
            # Starts at the band means (the last layer at zero, its bias added in `decode`).
            _init_weights(self.centre_head[0], math.sqrt(2.0))
            nn.init.zeros_(self.centre_head[-1].weight)
            nn.init.zeros_(self.centre_head[-1].bias)
        date_weights = 0.1 ** (torch.arange(N_DATES) - CENTER_DATE).abs().float()  # (T,)
        reduced = self.reduce_time[0].weight.shape[0]
        for layer, start in ((self.reduce_time[0], date_weights.expand(reduced, -1)),
                             (self.expand_time[0], torch.full((N_DATES, reduced), 1.0 / reduced))):
            _init_weights(layer, 0.1)
            with torch.no_grad():
                layer.weight += start

    def initialise_from_data(self, band_means: Tensor, band_stds: Tensor) -> None:
        """Start from the training data's band statistics, each (C,), means in (0, 1).

        Input: the stem's 1x1 convolution is rescaled so that it first sees each band
        standardised, (x - mean) / std, as if a normalisation layer came before it (the same
        parameters, so checkpoints and `cae embed` are unchanged). Model inputs are in [0, 1]
        but vary little around their level: S1 VH of the Poland cube is 0.39 +- 0.04. Without
        this the latent started nearly constant across samples, the decoder learnt to ignore
        it, and the tiny S1 encoder never beat predicting each patch's mean (0.042 vs 0.040
        held-out centre MAE); with it, it did within 150 steps in most runs (the others had
        dead latents, which the batch normalisation in `to_latent` prevents).

        Output: the bias of the last convolution is set to the logit of the means (like a
        classifier's bias set to the log-odds of its class frequencies), so training starts
        from the mean patch instead of spending its first steps moving a sigmoid from 0.5 to
        values near 0.05.
        """
        stem = self.frame_encoder.stem[0]
        means = band_means.to(stem.weight)
        scale = 1.0 / band_stds.to(stem.weight).clamp(min=1e-3)
        head = self.frame_decoder.head[-2]
        with torch.no_grad():
            stem.weight *= scale[None, :, None, None]
            stem.bias -= stem.weight[:, :, 0, 0] @ means
            head.bias.copy_(torch.logit(means.clamp(1e-3, 1 - 1e-3)))
            # The centre path standardises with the same statistics, kept with the weights.
            self.band_means.copy_(means)
            self.band_stds.copy_(band_stds.to(stem.weight).clamp(min=1e-3))

    def _attend_over_time(self, tokens: Tensor, day_offsets: Tensor) -> Tensor:
        """Mix the 11 tokens of each sample, told how many days separate them.

        The sequence axis is time and each sample is its own sequence, so a latent never
        depends on the other samples of a batch (the public code attends across the batch).
        """
        days = day_offsets.long().clamp(0, self.preset.max_day_offset)  # (B, T)
        tokens = tokens + self.day_embedding(days) / math.sqrt(tokens.shape[-1])  # (B, T, D)
        return self.transformer(tokens)  # (B, T, D)

    def encode(self, patches: Tensor, day_offsets: Tensor) -> Tensor:
        """(B, 11, C, 15, 15) patches and (B, 11) days since the first date -> (B, d) latents."""
        batch, dates, channels, height, width = patches.shape
        expected = (N_DATES, self.in_channels, self.input_size, self.input_size)
        if (dates, channels, height, width) != expected:
            expected_text = ", ".join(map(str, expected))
            raise ValueError(f"patches must be (B, {expected_text}), got {tuple(patches.shape)}")
        frames = patches.reshape(batch * dates, channels, height, width)  # (N, C, H, W)
        tokens = self.frame_encoder(frames).reshape(batch, dates, -1)  # (B, T, D)
        middle = self.input_size // 2
        return self.latent_from_tokens(tokens, day_offsets, patches[:, CENTER_DATE, :, middle, middle])

    def latent_from_tokens(self, tokens: Tensor, day_offsets: Tensor, centre: Tensor) -> Tensor:
        """(B, 11, D) frame tokens, (B, 11) day offsets and (B, C) values of the centre pixel
        at the centre date -> (B, d) latents.

        A frame's token does not depend on which window it sits in, so `cae embed` computes
        each once and reuses it in the 11 windows that contain it.
        """
        tokens = self._attend_over_time(tokens, day_offsets)  # (B, T, D)
        x = self.reduce_features(tokens)  # (B, T, r)
        x = self.reduce_time(x.transpose(1, 2)).flatten(1)  # (B, r R)
        if self.centre_head is not None:
            x = torch.cat([x, (centre - self.band_means) / self.band_stds], dim=1)  # (B, r R + C)
        return self.to_latent(x)  # (B, d)

    def decode(self, latent: Tensor, day_offsets: Tensor) -> Tensor:
        """(B, d) latents and (B, 11) day offsets -> (B, 11, C, 15, 15) reconstructions in [0, 1]."""
        batch = latent.shape[0]
        x = self.from_latent(latent).reshape(batch, self.preset.reduced_token_dim, -1)  # (B, r, R)
        x = self.expand_time(x).transpose(1, 2)  # (B, T, r)
        tokens = self.expand_features(x)  # (B, T, D)
        tokens = self._attend_over_time(tokens, day_offsets)  # (B, T, D)
        token_maps = tokens.reshape(batch * N_DATES, -1, TOKEN_SIZE, TOKEN_SIZE)  # (N, token, 4, 4)
        frames = self.frame_decoder(token_maps)  # (N, C, 15, 15)
        frames = frames.reshape(batch, N_DATES, self.in_channels, PATCH_SIZE, PATCH_SIZE)
        if self.centre_head is None:
            return frames
        centre = torch.zeros_like(frames, dtype=torch.bool)
        centre[:, CENTER_DATE, :, PATCH_SIZE // 2, PATCH_SIZE // 2] = True
        return torch.where(centre, self.centre_prediction(latent)[:, None, :, None, None], frames)  # the centre from its own head

    def centre_prediction(self, latent: Tensor) -> Tensor:
        """(B, d) latents -> (B, C) reconstruction of the centre pixel at the centre date, which
        with the centre path comes from the latent alone (what held-out scoring needs)."""
        logit = self.centre_head(latent) + torch.logit(self.band_means.clamp(1e-3, 1 - 1e-3))  # (B, C)
        return torch.sigmoid(logit)

    def forward(self, patches: Tensor, day_offsets: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction (B, 11, C, 15, 15), latent (B, d)) of a batch of samples."""
        latent = self.encode(patches, day_offsets)
        return self.decode(latent, day_offsets), latent


def autoencoder_for(spec: ModalitySpec, n_bands: int, preset: AutoencoderPreset | str | None = None) -> ContextAutoencoder:
    """The context autoencoder of a modality with `n_bands` bands; `preset` is a preset, its
    name, or None for the modality's default."""
    if preset is None or isinstance(preset, str):
        preset = get_preset(preset or spec.default_preset)
    return ContextAutoencoder(
        in_channels=n_bands, latent_dim=spec.latent_dim, temporal_reduction=spec.temporal_reduction, preset=preset
    )
