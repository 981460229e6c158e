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
from typing import Any

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


class GANWatch:
    """The failure-mode watches of one generator against one discriminator, for any recipe:
    feed it each iteration (:meth:`observe`), ask it at each log flush (:meth:`report`).

    ``bounded_below`` and ``saturation`` are the objective's facts
    (:class:`img2img.losses.Objective`): "D loss ~ 0" means a perfect discriminator only
    for a bounded-below objective, so no saturation is watched otherwise. ``patience``:
    iterations of a saturated D before the warning, and updates before the collapse watch
    starts (a freshly initialised G maps every z to nearly the same output: not a collapse).
    ``collapse_ratio``: warn when the samples' diversity falls below this times real data's.
    """

    def __init__(
        self, bounded_below: bool, saturation: float, patience: int, collapse_ratio: float
    ) -> None:
        self.saturation = SaturationWatch(patience if bounded_below else 0, saturation)
        self.patience = patience
        self.collapse_ratio = collapse_ratio
        self.real_diversity = 0.0

    def observe(self, real: Tensor, d_loss: float) -> None:
        """One iteration: its real batch (the first is the diversity yardstick) and D loss."""
        if not self.real_diversity:
            self.real_diversity = mean_pairwise_distance(real)
        self.saturation.observe(d_loss)

    def report(self, fake: Tensor, updates: int) -> tuple[dict[str, float], dict[str, str]]:
        """(metrics, warnings) for samples ``fake`` (the first 64 count) after ``updates``
        discriminator updates: ``diversity`` relative to real data, and the warnings
        ``mode_collapse`` and ``d_saturated`` when they apply."""
        metrics: dict[str, float] = {}
        warnings: dict[str, str] = {}
        if self.real_diversity:
            diversity = mean_pairwise_distance(fake[:64]) / self.real_diversity
            metrics["diversity"] = round(diversity, 4)
            if diversity < self.collapse_ratio and updates >= self.patience:
                warnings["mode_collapse"] = (
                    f"samples are {diversity:.2f}x as diverse as real data (mean pairwise "
                    "distance): the generator may have collapsed to a few modes"
                )
        if self.saturation.saturated:
            warnings["d_saturated"] = (
                f"discriminator loss below {self.saturation.threshold} for "
                f"{self.saturation.run} iterations: it wins outright and the generator's "
                "gradients vanish (try --objective wgan-gp, or hinge with --spectral-norm)"
            )
        return metrics, warnings

    def state_dict(self) -> dict[str, Any]:
        return {"real_diversity": self.real_diversity, "saturated_run": self.saturation.run}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.real_diversity = float(state["real_diversity"])
        self.saturation.run = int(state["saturated_run"])
