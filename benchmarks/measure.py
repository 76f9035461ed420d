"""What every benchmark measures the same way: GPU sync, FLOPs counted by torch, the matmul rate.

A benchmark's throughput is stated three ways in its `extra_info`: items per second (from the
fastest round: on a shared machine the slower rounds measure the other jobs), FLOPs per item
as torch counts them, and the FLOP rate that gives as a fraction of this machine's measured
matrix-multiply rate in the same dtype (how close the work runs to what the chip can do).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """torch counts its GPU attention kernels but not the CPU one: the same formula for it."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timed call measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(function: Callable[[], object]) -> int:
    """FLOPs of one call of `function`, counted by torch's FlopCounterMode.

    It counts matrix products, convolutions and attention, not elementwise ops or pooling.
    The fused fast path of `nn.TransformerEncoderLayer` (used in eval mode without grad) has
    no FLOP formula and would count as zero, so it is switched off while counting: the
    unfused layers compute the same products.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter:
            function()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops()


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """FLOP/s of the fastest of `repeats` (size x size) @ (size x size) products.

    On a GPU, float32 products run with TF32 when cuDNN's convolutions may (PyTorch's
    default): the rate the encoders' convolutions can reach is the one to compare with.
    """
    generator = torch.Generator(device=device).manual_seed(0)
    left = torch.rand(size, size, device=device, dtype=dtype, generator=generator)
    right = torch.rand(size, size, device=device, dtype=dtype, generator=generator)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        left @ right  # warm-up: kernel selection, allocations
        synchronize(device)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            left @ right
            synchronize(device)
            best = min(best, time.perf_counter() - started)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return 2 * size**3 / best


def record_throughput(benchmark, items: int, unit: str, flops_per_item: float, matmul_rate: float) -> float:
    """Put items/s (fastest round), FLOPs per item and the fraction of the matmul rate in the JSON."""
    rate = items / benchmark.stats.stats.min
    benchmark.extra_info.update({
        unit: items,
        f"{unit}_per_s": rate,
        f"flops_per_{unit.removesuffix('s')}": flops_per_item,
        "achieved_flops_per_s": rate * flops_per_item,
        "matmul_flops_per_s": matmul_rate,
        "fraction_of_matmul_rate": rate * flops_per_item / matmul_rate,
    })
    return rate
