"""pytest plugin (`-p naive_fast_path`): a deliberate regression of `cae embed`'s fast path.

Before the benchmarks import it, `shared_latents` is replaced by the per-window reference,
so a benchmark run measures the fast path as slow as the naive one, however fast the real
fast path becomes.
"""

import cae.embedding.latents as latents


def pytest_configure(config) -> None:
    latents.shared_latents = latents.naive_latents
