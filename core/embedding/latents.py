"""One modality encoder's latents at many (date, pixel) centres of a tile: two ways.

A tile is a modality's filled input over a region, `values` (T, C, H, W), with the day
number of each date, `days` (T,). A centre (t, y, x) needs the 11 consecutive dates
t-5..t+5 and the encoder's input window (15 x 15, plus the halo of an unpadded first
block) around (y, x), all inside the tile.

- `naive_latents` is the authors' way: cut every window and run the whole encoder on it.
  It is kept small and obviously right; everything else is tested against it.
- `shared_latents` computes each (frame, pixel) token once, and reuses it in the 11 windows
  that contain it (exact for every preset). With an unpadded first block it also runs the
  layers before the first patch-global operation once per frame over the whole tile, and
  each patch gathers its part (exact, since those layers only look at neighbours).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cae.autoencoder import ContextAutoencoder
from cae.modality import CENTER_DATE, N_DATES, PATCH_SIZE

#: Date offsets of a window around its centre date: -5..5.
_WINDOW_DATES = torch.arange(N_DATES) - CENTER_DATE


def _day_offsets(days: Tensor, centre_dates: Tensor) -> Tensor:
    """(B, 11) days since each window's first date."""
    window = days[centre_dates[:, None] + _WINDOW_DATES.to(days.device)]  # (B, 11)
    return window - window[:, :1]


def _patches(frames: Tensor, rows: Tensor, cols: Tensor, size: int) -> Tensor:
    """(B, ..., size, size) windows centred on (rows, cols) of frames (B, ..., H, W)."""
    offsets = torch.arange(size, device=frames.device) - size // 2
    row_index = (rows[:, None] + offsets)[:, :, None]  # (B, size, 1)
    col_index = (cols[:, None] + offsets)[:, None, :]  # (B, 1, size)
    batch = torch.arange(frames.shape[0], device=frames.device)[:, None, None]
    moved = frames.movedim((-2, -1), (1, 2))  # (B, H, W, ...)
    return moved[batch, row_index, col_index].movedim((1, 2), (-2, -1))


@torch.no_grad()
def naive_latents(model: ContextAutoencoder, values: Tensor, days: Tensor, centres: Tensor, batch_size: int) -> Tensor:
    """(N, d) latents of the centres (N, 3) = (t, y, x): the full encoder on every window."""
    latents = []
    for start in range(0, len(centres), batch_size):
        t, y, x = centres[start : start + batch_size].unbind(1)
        dates = t[:, None] + _WINDOW_DATES.to(t.device)  # (B, 11)
        frames = values[dates]  # (B, 11, C, H, W)
        size = model.input_size
        windows = _patches(frames.flatten(0, 1), y.repeat_interleave(N_DATES), x.repeat_interleave(N_DATES), size)
        windows = windows.reshape(len(t), N_DATES, values.shape[1], size, size)
        latents.append(model.encode(windows, _day_offsets(days, t)))
    return torch.cat(latents) if latents else values.new_zeros((0, model.latent_dim))


@torch.no_grad()
def shared_latents(model: ContextAutoencoder, values: Tensor, days: Tensor, centres: Tensor, batch_size: int) -> Tensor:
    """The same latents as `naive_latents`, computing each frame's token only once."""
    if len(centres) == 0:
        return values.new_zeros((0, model.latent_dim))
    t, y, x = centres.unbind(1)
    n_dates, width = values.shape[0], values.shape[-1]
    pixels, pixel_of_centre = torch.unique(y * width + x, return_inverse=True)  # (P,), (N,)
    needed = torch.zeros(n_dates, len(pixels), dtype=torch.bool, device=values.device)
    for offset in _WINDOW_DATES.tolist():
        needed[t + offset, pixel_of_centre] = True
    frame_dates, frame_pixels = needed.nonzero(as_tuple=True)
    tokens = values.new_zeros((n_dates, len(pixels), model.preset.token_dim))
    tokens[frame_dates, frame_pixels] = _frame_tokens(
        model, values, frame_dates, pixels[frame_pixels] // width, pixels[frame_pixels] % width, batch_size
    )
    latents = []
    for start in range(0, len(centres), batch_size):
        dates = t[start : start + batch_size, None] + _WINDOW_DATES.to(t.device)  # (B, 11)
        window_tokens = tokens[dates, pixel_of_centre[start : start + batch_size, None]]  # (B, 11, D)
        latents.append(model.latent_from_tokens(window_tokens, _day_offsets(days, t[start : start + batch_size])))
    return torch.cat(latents)


def _frame_tokens(
    model: ContextAutoencoder, values: Tensor, dates: Tensor, rows: Tensor, cols: Tensor, batch_size: int
) -> Tensor:
    """(F, D) tokens of the frames (dates, rows, cols): each frame's patch around the pixel."""
    encoder = model.frame_encoder
    tokens = values.new_empty((len(dates), model.preset.token_dim))
    if encoder.halo == 0:
        # Padded first block: the per-patch zero padding makes every patch's convolutions
        # its own, so each (frame, pixel) runs the whole frame encoder once.
        for start in range(0, len(dates), batch_size):
            part = slice(start, start + batch_size)
            patches = _patches(values[dates[part]], rows[part], cols[part], model.input_size)
            tokens[part] = encoder(patches).flatten(1)
        return tokens
    # Unpadded first block: its convolutions run once over each whole frame; every patch
    # then gathers its 15 x 15 part of the result (offset by the halo they consumed).
    halo = encoder.halo
    for date in torch.unique(dates).tolist():
        members = (dates == date).nonzero(as_tuple=True)[0]
        stem, features = encoder.neighbourhood(values[date][None])  # (1, stem, H - 2h, W - 2h) each
        for start in range(0, len(members), batch_size):
            part = members[start : start + batch_size]
            count = len(part)
            row, col = rows[part] - halo, cols[part] - halo
            stem_patches = _patches(stem.expand(count, -1, -1, -1), row, col, PATCH_SIZE)
            feature_patches = _patches(features.expand(count, -1, -1, -1), row, col, PATCH_SIZE)
            tokens[part] = encoder.token(stem_patches, feature_patches).flatten(1)
    return tokens
