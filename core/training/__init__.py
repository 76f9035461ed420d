"""Training: the engine both stages share, and stage 1 (one encoder per modality).

`config` (what shapes a run), `engine` (base task, data module, checkpoint writer, trainer),
`data` (prepared cubes, the block split, provenance), `run_folder` (resume and locking),
`device` (torch only), `baselines` (the patch-mean floor), `curves` (the loss plot) and
`encoder` (stage 1). Fusion (stage 2) builds on the same engine in `cae.fusion.training`.
"""
