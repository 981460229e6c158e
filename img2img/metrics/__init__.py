"""Evaluation metrics (offline-capable): Parzen-window log likelihood, ..."""
