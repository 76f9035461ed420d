"""pytest plugin (`-p naive_fast_path`): a deliberate regression of `cae embed`'s fast path.

It replaces `shared_latents` by the per-window reference before the benchmarks import it,
so a benchmark run measures the fast path as slow as the naive one.
"""

import cae.embedding.latents as latents


def pytest_configure(config) -> None:
    latents.shared_latents = latents.naive_latents
