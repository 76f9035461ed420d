"""Benchmark fixtures: the device and dtype to measure on, and the machine in the JSON."""

from __future__ import annotations

import platform

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["torch"] = torch.__version__
    machine_info["cpu_threads"] = torch.get_num_threads()
    machine_info["processor"] = platform.processor()
    if torch.cuda.is_available():
        machine_info["gpu"] = torch.cuda.get_device_name(0)
