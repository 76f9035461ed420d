"""How many CPU threads torch uses: the cores this process may run on that are not busy.

Decision (issue 22, benchmarks/RESULTS.md "A loaded machine"): torch starts one thread per
core and each operator waits for the slowest of them. When another process holds one of
the cores, every operator of the encoder waits for a thread that is not running; on 2
cores with one taken by another job, `cae embed` of a 48 x 48 px crop took 150 s with 2
threads and 24 s with 1. So the command line starts torch with one thread per core of its
affinity mask that the load average leaves free (at least one), set before torch loads
(OMP_NUM_THREADS) so that `cae --help` never imports torch; where torch is already loaded,
its threads are set directly, with one inter-op thread (the encoder has no parallel
branches). `CAE_THREADS=N` sets the number instead.
"""

from __future__ import annotations

import os
import sys

from cae.errors import InputError

#: The environment variable that overrides the choice (a whole number >= 1).
THREADS_VARIABLE = "CAE_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a batch job's allocation)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def chosen_threads(environ: dict[str, str] | None = None, load: float | None = None, cores: int | None = None) -> int:
    """`CAE_THREADS` when set, else the available cores less those the 1-minute load
    average says other processes keep busy, at least 1."""
    environ = os.environ if environ is None else environ
    value = environ.get(THREADS_VARIABLE, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise InputError(f"{THREADS_VARIABLE}={value!r}: expected a whole number of threads >= 1")
        return int(value)
    cores = available_cores() if cores is None else cores
    load = os.getloadavg()[0] if load is None and hasattr(os, "getloadavg") else (load or 0.0)
    return max(1, min(cores, cores - int(load)))


def configure_threads() -> int:
    """Fit torch's threads to the free cores (`chosen_threads`); call once, before any torch work.

    Without torch loaded yet (the command line: `cae --help` must not pay for importing it),
    the choice goes to OMP_NUM_THREADS, which torch reads when it loads, unless the user set
    it; with torch loaded, its intra-op threads are set and its inter-op pool to one thread
    (the encoder has no parallel branches; the pool cannot be resized once started).
    """
    threads = chosen_threads()
    if "torch" not in sys.modules:
        if THREADS_VARIABLE in os.environ or "OMP_NUM_THREADS" not in os.environ:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        return threads
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # the pool already started: torch keeps its own size
        pass
    return threads
