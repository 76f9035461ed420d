"""Timing helpers for benchmarks that may run on a GPU."""

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timed call measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
