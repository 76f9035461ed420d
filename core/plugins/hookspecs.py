"""The plugin contract: the hooks a sensor plugin implements to teach cae a modality."""

import pluggy

hookspec = pluggy.HookspecMarker("cae")
hookimpl = pluggy.HookimplMarker("cae")


@hookspec
def register_modalities(register):
    """Register sensor modalities by calling register(spec) with a ModalitySpec for each."""
