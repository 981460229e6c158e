"""The StyleGAN2-style generator's side of ``--task gan --generator style``: its network, its
paper settings, style mixing and the lazy path-length regulariser (stylegan2-ada-pytorch's
``loss.py`` and ``training_loop.py``).

The discriminator's lazy R1 is a general Adversary option (``r1_interval``), set from
:class:`~img2img.tasks.options.R1Options`; what is particular to a style generator lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from img2img.config import OptionGroup, option
from img2img.losses.path_length import path_length_penalty
from img2img.nets.stylegan import StyleGenerator, mix_styles


@dataclass
class StyleOptions(OptionGroup):
    """Style generator (--generator style): mapping network, style mixing, path length."""

    w_dim: int = option(128, "size of w (the reference's 512, small for CPUs)")
    mapping_layers: int = option(8, "layers of the mapping network z -> w")
    mapping_lr: float = option(0.01, "the mapping network's learning-rate multiplier")
    style_mixing: float = option(0.9, "probability of mixing two w's per batch")
    pl_weight: float = option(0.0, "path-length regularisation weight (StyleGAN2: 2)")
    pl_interval: int = option(4, "lazy path-length regularisation every this many G steps")


def style_presets(size: int, batch: int) -> dict[str, Any]:
    """stylegan2-ada-pytorch's settings for its ``auto``/``cifar`` configs at ``size`` px and
    ``batch`` images: Adam 0.0025 with betas (0, 0.99), no batch norm in D, and R1 gamma =
    0.0002 * resolution^2 / batch."""
    return {
        "lr": 0.0025,
        "beta1": 0.0,
        "beta2": 0.99,
        "d_norm": "none",
        "r1_gamma": 0.0002 * size**2 / batch,
    }


def lazy_adjustment(
    lr: float, betas: tuple[float, float], interval: int
) -> tuple[float, tuple[float, float]]:
    """(lr, betas) for a network regularised every ``interval`` steps (stylegan2-ada-pytorch's
    training_loop): c = interval / (interval + 1), lr * c, betas ** c, so the optimizer's
    effective step stays what the main loss alone would get. Unchanged for ``interval`` 1."""
    if interval <= 1:
        return lr, betas
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


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


def style_mixed_fakes(
    generator: StyleGenerator, z: Tensor, z_mix: Tensor, probability: float
) -> Tensor:
    """Training fakes with style mixing regularisation (stylegan2-ada-pytorch loss.py): with
    ``probability`` the layers from a random cutoff in [1, num_ws) on take ``z_mix``'s w, so
    the generator cannot rely on neighbouring layers' styles being correlated. The training
    forward also moves the tracked mean w."""
    ws = generator.broadcast(generator.map(z, update_mean=True))
    cutoff = int(torch.randint(1, generator.num_ws, ()))
    if float(torch.rand(())) < probability:
        ws = mix_styles(ws, generator.broadcast(generator.map(z_mix)), cutoff)
    return generator.synthesis(ws)


class PathLength:
    """Lazy path-length regularisation: every ``interval``-th generator step, the penalty on
    half a batch (the reference's pl_batch_shrink 2) weighted by ``weight * interval``. Its
    running mean length is training state."""

    def __init__(self, weight: float, interval: int, device: torch.device) -> None:
        self.weight, self.interval = weight, interval
        self.mean = torch.zeros((), device=device)

    def due(self, generator_step: int) -> bool:
        """Whether the ``generator_step``-th generator step (counted from 1) regularises."""
        return (generator_step - 1) % self.interval == 0

    def term(self, generator: StyleGenerator, n: int, logs: dict[str, float]) -> Tensor:
        z = torch.randn(max(n // 2, 1), generator.z_dim, device=self.mean.device)
        ws = generator.broadcast(generator.map(z)).detach().requires_grad_(True)
        penalty, self.mean = path_length_penalty(generator.synthesis(ws), ws, self.mean)
        logs["path_length"] = penalty.item()
        return self.weight * self.interval * penalty

    def state_dict(self) -> dict[str, Any]:
        return {"path_length_mean": self.mean.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = state["path_length_mean"].to(self.mean.device)
