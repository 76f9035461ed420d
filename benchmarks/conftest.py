"""Benchmark options and fixtures: quick or full sizes, the device and dtype to measure on,
this machine's matrix-multiply rate, and the machine in the JSON.

Quick mode (the default) sizes every benchmark so that the whole set takes a few minutes on
2 CPU cores, as CI runs it. `--benchmark-full` measures real work sizes (a default `cae embed`
chunk, large batches) and adds bfloat16 on a GPU; it is meant for a GPU machine.
"""

from __future__ import annotations

import os

import pytest
import torch

from measure import matmul_flops_per_s

#: Dtypes measured on each device: float32 everywhere; bfloat16 on a GPU in full mode only.
DTYPES = {"quick": {"cpu": ["float32"], "cuda": ["float32"]},
          "full": {"cpu": ["float32"], "cuda": ["float32", "bfloat16"]}}
#: Side of the square matrices that measure the matmul rate: large enough to reach the peak.
MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}

_MATMUL_RATES: dict[str, float] = {}


def pytest_addoption(parser) -> None:
    group = parser.getgroup("cae benchmarks")
    group.addoption("--benchmark-full", action="store_true",
                    help="measure real work sizes (meant for a GPU) instead of the quick CI sizes")
    group.addoption("--benchmark-devices", default=None,
                    help="comma-separated devices to measure on (default: cpu, and cuda when present)")


def _mode(config) -> str:
    return "full" if config.getoption("--benchmark-full") else "quick"


def _devices(config) -> list[str]:
    chosen = config.getoption("--benchmark-devices")
    if chosen is None:
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return chosen.split(",")


def pytest_generate_tests(metafunc) -> None:
    """Every benchmark runs once per (device, dtype) of this mode."""
    if "device" in metafunc.fixturenames:
        dtypes = DTYPES[_mode(metafunc.config)]
        pairs = [(device, dtype) for device in _devices(metafunc.config) for dtype in dtypes[device]]
        metafunc.parametrize(("device", "dtype"), pairs, indirect=True, ids=[f"{d}-{t}" for d, t in pairs])


@pytest.fixture
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def dtype(request) -> torch.dtype:
    return getattr(torch, request.param)


@pytest.fixture(scope="session")
def mode(request) -> str:
    """"quick" or "full": which of a benchmark's sizes to use."""
    return _mode(request.config)


@pytest.fixture
def matmul_rate(device, dtype) -> float:
    """This machine's matrix-multiply FLOP/s on `device` in `dtype`, measured once per session."""
    key = f"{device.type}/{str(dtype).removeprefix('torch.')}"
    if key not in _MATMUL_RATES:
        _MATMUL_RATES[key] = matmul_flops_per_s(device, dtype, MATMUL_SIZE[device.type])
    return _MATMUL_RATES[key]


@pytest.fixture(autouse=True)
def describe(benchmark, device, dtype, mode) -> None:
    """The device, dtype and mode in each benchmark's extra_info: the tracker keys ratios by them."""
    benchmark.extra_info.update(device=device.type, dtype=str(dtype).removeprefix("torch."), mode=mode)


def pytest_benchmark_update_machine_info(config, machine_info) -> None:
    gpu = None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        gpu = {"name": properties.name, "memory_gib": properties.total_memory / 2**30,
               "capability": f"{properties.major}.{properties.minor}", "cuda": torch.version.cuda}
    machine_info["cae"] = {
        "mode": _mode(config),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "matmul_flops_per_s": dict(_MATMUL_RATES),
    }
