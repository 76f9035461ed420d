"""Evaluation of trained models and embeddings: reconstruction, GPP at flux towers, maps (DESIGN.md section 7)."""
