"""Watching a GAN for the failure modes the literature names, without knowing which GAN.

- **Divergence**: a loss that is NaN, infinite or astronomically large. Training cannot
  recover, so :class:`TrainingDiverged` is raised (by ``optim.Stepper`` for a non-finite
  loss before it touches the weights, by a task's own checks for the rest); the Trainer
  stops without saving, which keeps the last checkpoint as the last good one.
- **A saturated discriminator**: its loss near 0 for many iterations means it separates real
  from fake perfectly and the generator's gradients vanish (Arjovsky & Bottou 2017).
- **Mode collapse**: generated samples far less diverse than real ones, measured as the mean
  pairwise distance of a fixed batch relative to a real batch's.

Tasks report what they see through ``monitor() -> (metrics, warnings)``; the Trainer logs
both and shows warnings in the progress bar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


class TrainingDiverged(RuntimeError):
    """Raised by a task's ``step`` when training cannot continue (NaN or exploding losses)."""


def check_losses(logs: dict[str, float], limit: float = 1e6, skip_nonfinite: bool = False) -> None:
    """Raise :class:`TrainingDiverged` naming every loss in ``logs`` that is NaN, infinite or
    larger in magnitude than ``limit``. With ``skip_nonfinite`` NaN and infinity pass: the
    Stepper has already skipped (and counted) the update they would have made."""
    bad = {
        k: v
        for k, v in logs.items()
        if (abs(v) > limit if math.isfinite(v) else not skip_nonfinite)
    }
    if bad:
        listed = ", ".join(f"{k}={v:.3g}" for k, v in bad.items())
        raise TrainingDiverged(
            f"losses diverged ({listed}); lower the learning rate (--lr), or use a "
            "regularised objective (--objective wgan-gp, or hinge with --spectral-norm)"
        )


class BufferGuard:
    """Keeps the floating-point buffers of ``modules`` (batch-norm running statistics) sane
    when an update is skipped for a non-finite loss: the forward pass that produced the
    NaN has already folded it into the running averages. ``snapshot()`` before each
    iteration, ``repair()`` after it restores every buffer that became non-finite."""

    def __init__(self, modules: Iterable[nn.Module]) -> None:
        unique = {id(b): b for m in modules for b in m.buffers() if b.is_floating_point()}
        self.buffers = list(unique.values())
        self.saved: list[Tensor] = []

    def snapshot(self) -> None:
        self.saved = [buffer.clone() for buffer in self.buffers]

    @torch.no_grad()
    def repair(self) -> None:
        for buffer, saved in zip(self.buffers, self.saved, strict=True):
            if not bool(torch.isfinite(buffer).all()):
                buffer.copy_(saved)


def mean_pairwise_distance(x: Tensor) -> float:
    """Mean Euclidean distance between the rows of ``x`` (N, ...) flattened; 0 for N < 2."""
    flat = x.detach().float().reshape(len(x), -1)
    return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0


class SaturationWatch:
    """Counts consecutive iterations whose discriminator loss is below ``threshold``.

    ``observe(d_loss)`` once per iteration; ``saturated`` is true once the run has lasted
    ``patience`` iterations. 0.01 means D assigns the right class with about 99.5%
    confidence on average under the cross-entropy objectives.
    """

    def __init__(self, patience: int = 100, threshold: float = 0.01) -> None:
        self.patience = patience
        self.threshold = threshold
        self.run = 0

    def observe(self, d_loss: float) -> None:
        self.run = self.run + 1 if d_loss < self.threshold else 0

    @property
    def saturated(self) -> bool:
        return self.patience > 0 and self.run >= self.patience
