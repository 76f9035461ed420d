"""How much memory one chunk of `cae embed` takes, and the chunk a device can hold.

An upper estimate from the arrays `cae.embedding.compute.compute_chunk` allocates, per modality:
the chunk's input with its halo of dates and pixels (values, mask, the filled copy), one
token per date and pixel of the chunk (the fast path keeps them all), the dense frame
encoder's feature maps of one date, the latents; then the fused embedding and the output
arrays. `SAFETY` covers what the estimate leaves out (allocator slack, temporaries).

Chunks are checked against the memory the device has free before any work
(a chunk that cannot fit is refused with the largest that does), and `--chunk auto`
chooses the largest chunk that fits in `AUTO_SHARE` of it: the rest is for the
chunk being read ahead and the one being written.
"""

from __future__ import annotations

from dataclasses import dataclass

from cae.geometry import CENTER_DATE

BYTES = 4  # float32
SAFETY = 2.0
#: Share of the free memory `--chunk auto` fills with one chunk.
AUTO_SHARE = 0.25
#: Chunk sides `--chunk auto` chooses from (a multiple of 16 keeps zarr chunks aligned).
AUTO_STEP = 16
#: Windows per forward pass `--chunk auto` chooses: more on a GPU, bounded by its memory.
BATCH_RANGE = (512, 16384)


@dataclass(frozen=True)
class EncoderShape:
    """What of one encoder sets a chunk's memory."""

    bands: int
    reach: int  # pixels the encoder reads on each side of a centre
    token_dim: int
    latent_dim: int
    widest: int  # channels of the widest activation of the frame encoder


def encoder_shape(model) -> EncoderShape:
    preset = model.preset
    return EncoderShape(
        bands=model.in_channels,
        reach=model.input_size // 2,
        token_dim=preset.token_dim,
        latent_dim=model.latent_dim,
        widest=max(preset.stem_channels, preset.block2_channels, preset.block3_channels) * len(preset.multiscale_kernels),
    )


def chunk_bytes(encoders: dict[str, EncoderShape], features: int, chunk: int, chunk_dates: int, dense: bool) -> int:
    """Upper estimate of the bytes one chunk of `chunk` x `chunk` pixels x `chunk_dates` dates needs."""
    dates_read = chunk_dates + 2 * CENTER_DATE
    centres = chunk_dates * chunk * chunk
    total = 0.0
    for shape in encoders.values():
        side = chunk + 2 * shape.reach
        total += 3 * dates_read * shape.bands * side * side  # values, the filled copy, the mask
        total += dates_read * chunk * chunk * shape.token_dim  # every frame token of the chunk
        if dense:
            total += 3 * shape.widest * side * side  # one date's feature maps, a few layers at once
        total += centres * (shape.latent_dim + 6)  # latents, centre indices
    total += centres * (2 * features + 1)  # fused, the output embedding and contributors
    return int(SAFETY * BYTES * total)


def largest_chunk(fits, limit: int) -> int:
    """The largest side in (0, `limit`] for which `fits(side)` holds (0: none does); `fits`
    must hold for every side below one it holds for."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def free_memory(device: str) -> int:
    """Bytes free on `device`: the GPU's free memory, or the memory the system has available."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def auto_batch_size(free: int, window_bytes: int) -> int:
    """Windows per forward pass for `free` bytes: a sixteenth of them, within BATCH_RANGE."""
    low, high = BATCH_RANGE
    return int(min(max(free // (16 * max(window_bytes, 1)), low), high))
