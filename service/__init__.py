"""Inference and scoring service over the model repository (no torch at run time)."""
