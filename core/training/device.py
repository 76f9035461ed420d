"""Which device a run uses: needs only torch, so inference picks one without Lightning."""

import torch

from cae.errors import InputError


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}; use cpu, cuda or auto")
    return device
