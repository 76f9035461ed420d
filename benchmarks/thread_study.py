"""`cae embed` on a loaded machine: torch thread settings, with and without CPU hogs.

Embeds a 48 x 48 px corner of the demo cube with the shipped demo model, once per setting,
first as the machine is, then with one `while True: pass` process per core. Not a pytest
benchmark (it starts processes that fight for the CPU on purpose); numbers in RESULTS.md.

    .venv/bin/python benchmarks/thread_study.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cae.cube.io import open_cube, write_cube
from cae.data import demo_cube_path, demo_model_path
from cae.threads import available_cores

#: (intra-op, inter-op) threads set before the command runs; None: torch's defaults.
SETTINGS = {"default": None, "1 thread": (1, None), "1 thread, 1 interop": (1, 1), "cae.threads": "cae"}


def embed_seconds(crop: Path, out: Path, setting, timeout: float = 240.0) -> float:
    if setting == "cae":
        code = "from cae.cli.app import main; main()"  # the command line's own choice
    else:
        code = "import torch\n"
        if setting:
            code += f"torch.set_num_threads({setting[0]})\n" + (f"torch.set_num_interop_threads({setting[1]})\n" if setting[1] else "")
        code += "from cae.cli.app import run; import sys; sys.exit(run(sys.argv[1:]))"
    argv = ["embed", str(crop), "--model", str(demo_model_path() / "fusion"), "--out", str(out), "--overwrite"]
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        crop = write_cube(open_cube(demo_cube_path("s2")).isel(y=slice(0, 48), x=slice(0, 48)), Path(folder) / "crop.zarr")
        for hogs in (0, available_cores()):
            hogging = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
            try:
                for name, setting in SETTINGS.items():
                    seconds = embed_seconds(crop, Path(folder) / "out.zarr", setting)
                    print(f"hogs {hogs}, load {os.getloadavg()[0]:.1f}, {name}: {seconds:.1f} s", flush=True)
            finally:
                for process in hogging:
                    process.kill()


if __name__ == "__main__":
    main()
