"""cae: context-aware multimodal autoencoders for Sentinel-1 and Sentinel-2 time series.

Importing `cae` is cheap on purpose: torch and the geospatial stack load only when a
function that needs them runs, so that `cae --help` and `cae modalities` start fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cae")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

# What a sensor plugin needs, importable from `cae` itself (`from cae import hookimpl, ModalitySpec`);
# light on purpose: the contract is dataclasses, the hook marker is pluggy's.
from cae.plugins.contract import Band, LossWeights, ModalitySpec, PreparedModality, SamplingDefaults  # noqa: E402
from cae.plugins.hookspecs import hookimpl  # noqa: E402

__all__ = ["Band", "LossWeights", "ModalitySpec", "PreparedModality", "SamplingDefaults", "__version__", "hookimpl"]
