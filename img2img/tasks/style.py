"""The StyleGAN2-style generator's side of ``--task gan --generator style``: its network, its
paper settings, style mixing and the lazy path-length regulariser (stylegan2-ada-pytorch's
``loss.py`` and ``training_loop.py``).

The discriminator's lazy R1 is a general Adversary option (``r1_interval``, ``r1_separate``),
set from :class:`~img2img.tasks.options.R1Options`; the EMA with its ramp-up is the
Trainer's (``--ema``, ``--ema-rampup``); what is particular to a style generator lives here.

What ``--generator style`` brings (:func:`style_presets`), as the reference's ``auto``
config at 32 px on one GPU: StyleGAN2's residual discriminator with equalized learning rate
and minibatch standard deviation (``--discriminator style``), Adam 0.0025 betas (0, 0.99)
for both networks, R1 gamma = 0.0002 * resolution^2 / batch every 16 D steps, the EMA of G
with a half-life of 10k images (``0.5 ** (32 / 10000)`` per iteration of any batch) and
ramp-up 0.05, a mapping network of 2 layers, style mixing 0.9, and augmentation of D's
inputs (DiffAugment ``color,translation,cutout`` where the reference has ADA, on by default;
``--diffaugment ''`` turns it off). The lazy regularisers are separate optimizer steps after
the main ones (the reference's ``Greg`` and ``Dreg`` phases), so the lr x c and betas ** c
adjustment (c = k / (k + 1)) means what it means there; G's interval is 4 whether or not
path length is on, as the reference's ``G_reg_interval`` (its ``Greg`` phase is then an
empty step).

Departures from the reference, besides the networks' (:mod:`img2img.nets.stylegan`): the
order of the phases is D's then G's (the reference: Gmain, Greg, Dmain, Dreg), one fake
batch serves D's step and G's (the reference draws fresh latents per phase), path length is
off by default (``--pl-weight 2`` turns it on; the reference's ``auto`` config has it at 2,
its ``cifar`` config at 0), ``w_dim`` is 128 (the reference's 512), the minibatch-stddev
group is 4 (the ``cifar`` config's: 32); DiffAugment's fixed policy in place of ADA's
adaptive one (ADA tunes its strength to keep the sign of D's output on reals near 0.6). The
``cifar`` config's discriminator is the residual one without its skips
(``architecture='orig'``), which is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from img2img.config import OptionGroup, option
from img2img.losses.path_length import path_length_penalty
from img2img.nets.stylegan import StyleGenerator, mix_styles
from img2img.tasks.options import OptimizerOptions
from img2img.tasks.parts import stepper_factory


@dataclass
class StyleOptions(OptionGroup):
    """Style generator (--generator style): mapping network, style mixing, path length."""

    w_dim: int = option(128, "size of w (the reference's 512, small for CPUs)")
    mapping_layers: int = option(8, "layers of the mapping network z -> w")
    mapping_lr: float = option(0.01, "the mapping network's learning-rate multiplier")
    style_mixing: float = option(0.9, "probability of mixing two w's per batch")
    pl_weight: float = option(0.0, "path-length regularisation weight (StyleGAN2: 2)")
    pl_interval: int = option(
        4,
        "G's lazy regularisation interval: path length on every this many G steps, and G's "
        "Adam adjusted for it (lr x c, betas ** c, c = k/(k+1)) even without path length",
    )


# stylegan2-ada-pytorch's auto config: ema_kimg = batch * 10 / 32, so the per-iteration
# beta 0.5 ** (batch / (ema_kimg * 1000)) is the same for every batch size.
STYLE_EMA = 0.5 ** (32 / 10_000)


# The augmentation in place of the reference's ADA (on by default in its train.py): the
# DiffAugment paper's policy for StyleGAN2 with little data. Without it the generator
# collapses to a digit or two within a few hundred iterations on 10,000 MNIST digits
# (docs/gan-metrics.md); augmenting what D sees is both papers' remedy for a discriminator
# that overfits a small set.
STYLE_AUGMENTATION = "color,translation,cutout"


def style_presets(size: int, batch: int) -> dict[str, Any]:
    """stylegan2-ada-pytorch's settings for its ``auto`` config at ``size`` px and ``batch``
    images: its discriminator, Adam 0.0025 with betas (0, 0.99), R1 gamma = 0.0002 *
    resolution^2 / batch, the EMA of G (half-life 10k images, ramp-up 0.05), a mapping
    network of 2 layers, and augmentation of what D judges (:data:`STYLE_AUGMENTATION`,
    DiffAugment where the reference has ADA)."""
    return {
        "diffaugment": STYLE_AUGMENTATION,
        "discriminator": "style",
        "lr": 0.0025,
        "beta1": 0.0,
        "beta2": 0.99,
        "d_norm": "none",
        "r1_gamma": 0.0002 * size**2 / batch,
        "ema": STYLE_EMA,
        "ema_rampup": 0.05,
        "mapping_layers": 2,
    }


def lazy_adjustment(
    lr: float, betas: tuple[float, float], interval: int
) -> tuple[float, tuple[float, float]]:
    """(lr, betas) for a network regularised every ``interval`` steps by a separate optimizer
    step (stylegan2-ada-pytorch's training_loop): c = interval / (interval + 1), lr * c,
    betas ** c, so over ``interval`` iterations the ``interval + 1`` steps move the weights
    as far, and average the moments over as long, as ``interval`` unadjusted steps would.
    Unchanged for ``interval`` 1."""
    if interval <= 1:
        return lr, betas
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


def lazy_stepper(
    options: OptimizerOptions,
    interval: int,
    total_steps: int,
    decay_steps: int,
    lr: float | None = None,
) -> Any:
    """A stepper factory (:func:`~img2img.tasks.parts.stepper_factory`) for a network
    regularised every ``interval`` steps, its ``lr`` (default ``options.lr``) and betas
    adjusted by :func:`lazy_adjustment`."""
    lr = options.lr if lr is None else lr
    lr, betas = lazy_adjustment(lr, (options.beta1, options.beta2), interval)
    return stepper_factory(options, total_steps, decay_steps, lr, betas)


def style_generator(
    options: StyleOptions, z_dim: int, image_size: int, channels: int, ngf: int
) -> StyleGenerator:
    return StyleGenerator(
        z_dim=z_dim,
        w_dim=options.w_dim,
        image_size=image_size,
        channels=channels,
        ngf=ngf,
        mapping_layers=options.mapping_layers,
        mapping_lr=options.mapping_lr,
    )


def style_mixed_ws(
    generator: StyleGenerator, z: Tensor, z_mix: Tensor, probability: float
) -> Tensor:
    """The per-layer ws (N, num_ws, w_dim) of a training batch with style mixing
    regularisation (stylegan2-ada-pytorch loss.py ``run_G``): with ``probability`` the layers
    from a random cutoff in [1, num_ws) on take ``z_mix``'s w, so the generator cannot rely
    on neighbouring layers' styles being correlated. Moves the tracked mean w (by ``z``'s
    w, not the mixing one's), and keeps the graph through the mapping network."""
    ws = generator.broadcast(generator.map(z, update_mean=True))
    cutoff = int(torch.randint(1, generator.num_ws, ()))
    if float(torch.rand(())) < probability:
        ws = mix_styles(ws, generator.broadcast(generator.map(z_mix)), cutoff)
    return ws


def style_mixed_fakes(
    generator: StyleGenerator, z: Tensor, z_mix: Tensor, probability: float
) -> Tensor:
    """Training fakes (N, C, S, S) from :func:`style_mixed_ws`."""
    return generator.synthesis(style_mixed_ws(generator, z, z_mix, probability))


class PathLength:
    """Lazy path-length regularisation: every ``interval``-th generator step, the penalty on
    half a batch (the reference's pl_batch_shrink 2) weighted by ``weight * interval``, for
    a step of its own (the reference's ``Greg`` phase). Its running mean length is training
    state."""

    def __init__(self, weight: float, interval: int, device: torch.device) -> None:
        self.weight, self.interval = weight, interval
        self.mean = torch.zeros((), device=device)

    def due(self, generator_step: int) -> bool:
        """Whether the ``generator_step``-th generator step (counted from 1) regularises."""
        return (generator_step - 1) % self.interval == 0

    def term(
        self,
        generator: StyleGenerator,
        n: int,
        logs: dict[str, float],
        style_mixing: float = 0.0,
    ) -> Tensor:
        """The weighted penalty of ``n // 2`` fresh samples, style-mixed with probability
        ``style_mixing`` as the training fakes are (logged unweighted as ``path_length``). It
        differentiates the images with respect to the mapping network's output, so its
        gradient trains the mapping network as well as the synthesis network, as the
        reference's does."""
        device = self.mean.device
        z, z_mix = torch.randn(2, max(n // 2, 1), generator.z_dim, device=device)
        ws = style_mixed_ws(generator, z, z_mix, style_mixing)
        penalty, self.mean = path_length_penalty(generator.synthesis(ws), ws, self.mean)
        logs["path_length"] = penalty.item()
        return self.weight * self.interval * penalty

    def state_dict(self) -> dict[str, Any]:
        return {"path_length_mean": self.mean.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = state["path_length_mean"].to(self.mean.device)
