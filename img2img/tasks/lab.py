"""The 2-D GAN lab: small MLPs on mixtures of Gaussians (``--data toy:ring8``).

A GAN on points in the plane shows what image GANs hide: where the discriminator's decision
surface lies, which modes the generator covers and which it drops. ``--task gan`` on toy
data takes these networks and settings (:data:`LAB_PRESETS`), logs the mode coverage and
draws each progress image as real and generated points over D's surface
(:class:`LabRecipe`); the GAN Lab tab (:mod:`img2img.demo.lab`) steps D and G one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import OptionGroup, option
from img2img.data.toy import Mixture, js_divergence, mode_coverage
from img2img.losses import Adversary
from img2img.nets.mlp import MLPAutoEncoder, MLPDiscriminator, MLPGenerator
from img2img.tasks.noise import generate

# Small MLPs, big batches, many short epochs, a plot every 250 iterations.
LAB_PRESETS: dict[str, Any] = {
    "net": "mlp",
    "z_dim": 8,
    "hidden": 64,
    "batch_size": 128,
    "epochs": 100,
    "lr": 2e-3,
    "num_samples": 1000,
    "sample_every": 250,
    "log_every": 50,
    "num_workers": 0,
}
# On 2-D data WGAN-GP's own toy script (gan_toy.py, Gulrajani et al.) uses lambda = 0.1.
# EBGAN's energies of 2-D points are squared distances: a margin of 0.5 (a reconstruction
# 0.7 away, a third of the ring's radius) separates fakes from the ring's modes, and the
# lab's 2e-3 makes its coverage swing; ours (the paper has no 2-D experiment): with them
# the samples reach the ring in 800 iterations but cover only 0-3 of its 8 modes, by seed
# (tests/tasks/test_ebgan.py).
LAB_OBJECTIVE_PRESETS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"gp_weight": 0.1},
    "ebgan": {"margin": 0.5, "lr": 1e-3},
}


@dataclass
class LabOptions(OptionGroup):
    """The 2-D lab's networks (--net mlp)."""

    hidden: int = option(128, "MLP hidden units")
    mlp_layers: int = option(3, "MLP hidden layers")


def lab_networks(
    options: LabOptions, z_dim: int, spectral_norm: bool, energy: bool
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) MLPs for 2-D points; an energy objective's discriminator
    is an auto-encoder."""
    g = MLPGenerator(z_dim=z_dim, hidden=options.hidden, layers=options.mlp_layers)
    kind = MLPAutoEncoder if energy else MLPDiscriminator
    d = kind(hidden=options.hidden, layers=options.mlp_layers, spectral_norm=spectral_norm)
    return g, d


def lab_plot(
    adversary: Adversary, mixture: Mixture, real: Tensor, fake: Tensor, path: Path, step: int
) -> None:
    """Real and generated points over the discriminator's decision surface, titled with
    the iteration and the modes covered."""
    from img2img.reporting import plot_points

    coverage = mode_coverage(fake, mixture)
    device = next(adversary.discriminator.parameters()).device
    plot_points(
        real=real,
        fake=fake.cpu(),
        critic=lambda points: adversary.scores(points.to(device)).cpu(),
        path=path,
        title=f"iteration {step}: {coverage['modes']:.0f}/{len(mixture.modes)} modes, "
        f"{coverage['high_quality']:.0%} high quality",
        probabilities=adversary.objective.probabilities,
    )


def generator_pull(adversary: Adversary, points: Tensor) -> Tensor:
    """Minus the gradient of the generator's adversarial loss (:meth:`Adversary.loss`, the
    objective's generator term, unrolled when the Adversary unrolls) with respect to each of
    ``points`` (n, 2), taken as the fakes of one batch: where each generated point would go
    to lower the loss (GAN Lab's arrows, which show the gradient of D's output instead).
    The loss is a mean over the points, so the values scale as 1/n. D is not changed."""
    fake = points.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(adversary.loss(fake), fake)
    return -grad


def latent_grid(generator: nn.Module, side: int = 11, extent: float = 2.0) -> Tensor:
    """The generator's map of a ``side`` x ``side`` grid of latents: the first two noise
    coordinates from ``-extent`` to ``extent`` (2 std of z ~ N(0, I)), the others 0; returns
    the points (side * side, 2), row by row, so neighbours on the grid can be joined."""
    ticks = torch.linspace(-extent, extent, side)
    v, u = torch.meshgrid(ticks, ticks, indexing="ij")
    z = torch.zeros(side * side, generator.latent_size)
    z[:, 0] = u.flatten()
    if generator.latent_size > 1:  # one-dimensional noise maps each row onto the same curve
        z[:, 1] = v.flatten()
    device = next(generator.parameters()).device
    return generate(generator, z.to(device)).cpu()


class LabRecipe:
    """What the GAN recipe adds for 2-D points and the GAN Lab, mixed into it: the mode
    coverage and a Jensen-Shannon divergence estimate (``js``,
    :func:`~img2img.data.toy.js_divergence`) of the fixed-latent samples in the logs, the
    progress images as plots over D's surface, and single D and G steps (GAN Lab's
    multi-level stepping). Relies on the recipe's ``mixture`` (None for images),
    ``adversary``, ``fixed_samples`` and its own step's halves (``_real``, ``_fake``,
    ``_discriminator_update``, ``_generator_update``)."""

    mixture: Mixture | None
    adversary: Adversary

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]:
        metrics, warnings = super().monitor()
        if self.mixture is not None:
            samples = self.fixed_samples()
            found = mode_coverage(samples, self.mixture)
            found["js"] = round(js_divergence(samples, self.mixture), 4)
            metrics = {**found, **metrics}
        return metrics, warnings

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None:
        """An image grid, or for 2-D data the lab's plot over D's decision surface."""
        if self.mixture is None:
            return super().write_samples(batch, path, step)
        fake = self.fixed_samples()
        lab_plot(self.adversary, self.mixture, batch["image"], fake, path, step)

    def discriminator_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One discriminator update alone, on ``batch`` and fresh fakes (the recipe's
        ``step`` is a D update and, on the generator's turn, a G update)."""
        real, labels = self._real(batch)
        with torch.no_grad():
            fake = self._fake(len(real), labels)
        return self._discriminator_update(real, fake, labels)

    def generator_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One generator update alone, on as many fresh fakes as ``batch`` has images."""
        real, labels = self._real(batch)
        fake = self._fake(len(real), labels)
        return self._generator_update(fake, labels)
