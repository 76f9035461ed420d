"""One modality encoder's latents at many (date, pixel) centres of a tile: two ways.

A tile is a modality's filled input over a region, `values` (T, C, H, W), with the day
number of each date, `days` (T,). A centre (t, y, x) needs the 11 consecutive dates
t-5..t+5 and the encoder's input window (15 x 15, plus the halo of an unpadded first
block) around (y, x), all inside the tile.

- `naive_latents` is the authors' way: cut every window and run the whole encoder on it.
  It is kept small and obviously right; everything else is tested against it.
- `shared_latents` computes each (frame, pixel) token once, and reuses it in the 11 windows
  that contain it (exact for every preset). With the dense frame encoder it also runs that
  encoder once per frame over the whole tile, and each pixel reads its token's 4 x 4 cells
  from the result (exact, since each value of the map looks only at its neighbours).

A centre closer than 5 dates to an end of the tile (only asked for with `cae embed
--series-ends`) gets a window that repeats the tile's first or last date in place of the
dates beyond it; for every other centre that changes nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cae.model.autoencoder import ContextAutoencoder, DenseFrameEncoder
from cae.geometry import CENTER_DATE, N_DATES
from cae.model.presets import TOKEN_CELL_OFFSETS

#: Date offsets of a window around its centre date: -5..5.
_WINDOW_DATES = torch.arange(N_DATES) - CENTER_DATE


def _window_dates(centre_dates: Tensor, n_dates: int) -> Tensor:
    """(B, 11) the dates of each window: t-5..t+5, the nearest end date where they leave the tile."""
    return (centre_dates[:, None] + _WINDOW_DATES.to(centre_dates.device)).clamp(0, n_dates - 1)


def _day_offsets(days: Tensor, centre_dates: Tensor) -> Tensor:
    """(B, 11) days since each window's first date."""
    window = days[_window_dates(centre_dates, len(days))]  # (B, 11)
    return window - window[:, :1]


def _patches(frames: Tensor, rows: Tensor, cols: Tensor, size: int) -> Tensor:
    """(B, ..., size, size) windows centred on (rows, cols) of frames (B, ..., H, W)."""
    offsets = torch.arange(size, device=frames.device) - size // 2
    row_index = (rows[:, None] + offsets)[:, :, None]  # (B, size, 1)
    col_index = (cols[:, None] + offsets)[:, None, :]  # (B, 1, size)
    batch = torch.arange(frames.shape[0], device=frames.device)[:, None, None]
    moved = frames.movedim((-2, -1), (1, 2))  # (B, H, W, ...)
    return moved[batch, row_index, col_index].movedim((1, 2), (-2, -1))


def _frame_patches(values: Tensor, dates: Tensor, rows: Tensor, cols: Tensor, size: int) -> Tensor:
    """(B, C, size, size) windows of `values` (T, C, H, W) at (dates, rows, cols): `_patches`
    of `values[dates]` without copying B whole frames first (on a 256 x 256 px tile that
    copy, not the encoder, took most of the time of a strided preset)."""
    offsets = torch.arange(size, device=values.device) - size // 2
    row_index = (rows[:, None] + offsets)[:, :, None]  # (B, size, 1)
    col_index = (cols[:, None] + offsets)[:, None, :]  # (B, 1, size)
    return values.movedim(1, -1)[dates[:, None, None], row_index, col_index].movedim(-1, 1)


@torch.no_grad()
def naive_latents(model: ContextAutoencoder, values: Tensor, days: Tensor, centres: Tensor, batch_size: int) -> Tensor:
    """(N, d) latents of the centres (N, 3) = (t, y, x): the full encoder on every window."""
    latents = []
    for start in range(0, len(centres), batch_size):
        t, y, x = centres[start : start + batch_size].unbind(1)
        dates = _window_dates(t, values.shape[0])  # (B, 11)
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
    for dates in _window_dates(t, n_dates).T:
        needed[dates, pixel_of_centre] = True
    frame_dates, frame_pixels = needed.nonzero(as_tuple=True)
    tokens = values.new_zeros((n_dates, len(pixels), model.preset.token_dim))
    tokens[frame_dates, frame_pixels] = _frame_tokens(
        model, values, frame_dates, pixels[frame_pixels] // width, pixels[frame_pixels] % width, batch_size
    )
    latents = []
    for start in range(0, len(centres), batch_size):
        part = slice(start, start + batch_size)
        dates = _window_dates(t[part], n_dates)  # (B, 11)
        window_tokens = tokens[dates, pixel_of_centre[part, None]]  # (B, 11, D)
        centre = values[t[part], :, y[part], x[part]]  # (B, C): the centre pixel at the centre date
        latents.append(model.latent_from_tokens(window_tokens, _day_offsets(days, t[part]), centre))
    return torch.cat(latents)


def _frame_tokens(
    model: ContextAutoencoder, values: Tensor, dates: Tensor, rows: Tensor, cols: Tensor, batch_size: int
) -> Tensor:
    """(F, D) tokens of the frames (dates, rows, cols): each frame's patch around the pixel."""
    encoder = model.frame_encoder
    if not isinstance(encoder, DenseFrameEncoder):
        # The strided encoder zero-pads and pools over each patch, which makes every patch's
        # work its own: each (frame, pixel) runs the whole frame encoder once.
        tokens = values.new_empty((len(dates), model.preset.token_dim))
        for start in range(0, len(dates), batch_size):
            part = slice(start, start + batch_size)
            patches = _frame_patches(values, dates[part], rows[part], cols[part], model.input_size)
            tokens[part] = encoder(patches).flatten(1)
        return tokens
    # The dense encoder runs once over each whole frame; every pixel then reads its token's
    # cells from the map, whose pixel (i, j) is the tile's (i + reach, j + reach).
    cells = torch.tensor(TOKEN_CELL_OFFSETS, device=values.device) - encoder.reach
    tokens = values.new_empty((len(dates), model.preset.token_channels, len(cells), len(cells)))
    for date in torch.unique(dates).tolist():
        members = (dates == date).nonzero(as_tuple=True)[0]
        feature_map = encoder.feature_map(values[date][None])[0]  # (token, H - 2 reach, W - 2 reach)
        cell_rows = (rows[members, None] + cells)[:, :, None]  # (M, 4, 1)
        cell_cols = (cols[members, None] + cells)[:, None, :]  # (M, 1, 4)
        tokens[members] = feature_map[:, cell_rows, cell_cols].movedim(0, 1)  # (M, token, 4, 4)
    return tokens.flatten(1)
