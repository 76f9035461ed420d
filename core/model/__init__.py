"""The stage-1 model: the context autoencoder (`autoencoder`), its size presets (`presets`) and
the reconstruction losses (`losses`)."""
