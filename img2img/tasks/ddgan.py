"""Denoising Diffusion GANs (Xiao et al. 2022; reference NVlabs/denoising-diffusion-gan,
``train_ddgan.py``): diffusion with T = 4 large steps, each reverse step a conditional GAN.

One iteration, for real images x_0 and t ~ U{0, ..., T-1}:

    (x_t, x_{t+1}) ~ q                         the forward chain (VP schedule)
    x0' = G(x_{t+1}, t, z)                     the generator predicts the clean image
    x_t' ~ q(x_t | x_{t+1}, x0')               and steps back through the true posterior
    D: non-saturating loss on D(x_t, x_{t+1}, t) vs D(x_t', x_{t+1}, t), R1 on the real x_t
    G: non-saturating loss on D(x_t', x_{t+1}, t)

``--objective`` takes any objective (with its critic constraint); the reference's is the
non-saturating one, the default. The discriminator is an ordinary Adversary: (x_{t+1}, t)
travel as its ``condition=``, so R1 differentiates x_t alone, as in the reference. ``--steps
1`` makes x_1 almost pure noise and the posterior's mean x0' itself: a plain GAN with the
same networks, which is what the zoo benchmark compares against. The model
(``generator.safetensors``) is the whole :class:`img2img.nets.ddgan.DenoisingChain`, so
``img2img sample`` runs the T steps. Data, grids and the watch are those of every recipe
from noise (:mod:`img2img.tasks.noise`).

Defaults are the reference's CIFAR-10 settings (T 4, beta 0.1..20, nz 100, Adam G 1.6e-4 /
D 1.25e-4 with betas (0.5, 0.9) annealed by cosine to 1e-5 over the run, R1 gamma 0.02
every 15 iterations added to that iteration's D loss, unscaled and without adjusting Adam,
as in the reference; random horizontal flips, but not of digits) except: the cosine steps
every iteration (the reference's once per epoch); the networks (a small FiLM U-Net with a
tanh output and a strided-conv discriminator instead of NCSN++, for CPU budgets); no EMA
by default (``--ema 0.9999``
gives the reference's); and the generator's turn reuses the discriminator step's batch
(t, the pair and the fake), as the GAN recipe does, where the reference draws a fresh t,
pair and z for it (one generator forward per iteration instead of two). It offers no
DiffAugment: the Adversary would augment x_t but not the condition x_{t+1}, and a pair
shifted or cut out on one side only is no longer a denoising pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from img2img.config import TrainConfig, option
from img2img.data.mnist import is_mnist_folder
from img2img.data.toy import is_toy
from img2img.losses import objective_presets
from img2img.nets.ddgan import (
    Denoiser,
    DenoisingChain,
    TimeDiscriminator,
    posterior_sample,
    q_sample_pairs,
)
from img2img.tasks.noise import (
    FromNoise,
    NoiseDataOptions,
    NoiseTrainConfig,
    WatchOptions,
    noise_data_presets,
    noise_dataset,
)
from img2img.tasks.options import (
    AdversaryOptions,
    ImageChannels,
    OptimizerOptions,
    R1Options,
    WidthOptions,
)
from img2img.tasks.parts import config_adversary, stepper_factory
from img2img.tasks.registry import register_task
from img2img.watch import check_losses


@dataclass
class DDGANConfig(
    WatchOptions,
    R1Options,
    ImageChannels,
    WidthOptions,
    OptimizerOptions,
    AdversaryOptions,
    NoiseDataOptions,
    NoiseTrainConfig,
):
    """The diffusion's options, and the reference's CIFAR-10 optimizer, schedule, R1 and
    data settings."""

    task: str = option("ddgan", "which recipe to train")
    data: str = option("", "MNIST folder (IDX files), image folder or class folders")
    steps: int = option(4, "denoising steps T (1: a plain GAN)")
    beta_min: float = option(0.1, "VP schedule: beta at t = 0")
    beta_max: float = option(20.0, "VP schedule: beta at t = 1")
    t_dim: int = option(128, "size of the time-step embedding")
    z_dim: int = option(100, "size of each step's latent z")
    lr: float = OptimizerOptions.option("lr", 1.6e-4)
    d_lr: float = option(1.25e-4, "discriminator learning rate")
    beta2: float = OptimizerOptions.option("beta2", 0.9)
    r1_gamma: float = R1Options.option("r1_gamma", 0.02)
    r1_interval: int = R1Options.option("r1_interval", 15)  # the reference's lazy_reg
    # The reference anneals both learning rates with cosine to 1e-5 over the run; runs saved
    # before this option trained at constant rates.
    lr_schedule: str = TrainConfig.option("lr_schedule", "cosine", saved_default="linear")
    lr_floor: float = TrainConfig.option("lr_floor", 1e-5, saved_default=0.0)

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """The data's image size and channels (MNIST: 28 px, one channel), the reference's
        random horizontal flips but for digits (a mirrored digit is no digit), and the
        objective's critic constraint (wgan: clipping, wgan-gp: a penalty)."""
        data = str(values.get("data", ""))
        found = noise_data_presets(data, bool(values.get("stacked", False)))
        found = {k: v for k, v in found.items() if k in ("image_size", "channels")}
        found["flip"] = bool(data) and not is_toy(data) and not is_mnist_folder(data)
        return {**found, **objective_presets(values, "nonsaturating")}


def build_chain(config: DDGANConfig) -> DenoisingChain:
    denoiser = Denoiser(
        channels=config.channels, ngf=config.ngf, z_dim=config.z_dim, t_dim=config.t_dim
    )
    return DenoisingChain(
        denoiser,
        steps=config.steps,
        image_size=config.image_size,
        channels=config.channels,
        z_dim=config.z_dim,
        beta_min=config.beta_min,
        beta_max=config.beta_max,
    )


@register_task(
    "ddgan",
    evaluation="samples",
    demo_tab="sample",
    pipeline_tag="unconditional-image-generation",
)
class DDGAN(FromNoise):
    """The DDGAN recipe (see :mod:`img2img.tasks` for the interface)."""

    Config = DDGANConfig

    @staticmethod
    def dataset(config: DDGANConfig, split: str, augment: bool | None = None) -> Dataset | None:
        if is_toy(config.data):
            raise ValueError(f"{config.data}: --task ddgan denoises images; use --task gan")
        return noise_dataset(config, split)

    @staticmethod
    def build_generator(config: DDGANConfig) -> nn.Module:
        return build_chain(config)

    def __init__(
        self, config: DDGANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = build_chain(config).to(device)
        discriminator = TimeDiscriminator(
            image_size=config.image_size,
            channels=config.channels,
            ndf=config.ndf,
            t_dim=config.t_dim,
        ).to(device)
        self.g_stepper = stepper_factory(config, total_steps, decay_steps)(self.generator)
        d_stepper = stepper_factory(config, total_steps, decay_steps, lr=config.d_lr)
        self.adversary = config_adversary(
            config,
            discriminator,
            d_stepper(discriminator),
            r1_weight=config.r1_gamma,
            r1_interval=config.r1_interval,
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.watch_samples(config)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        real = batch["image"].to(self.device, non_blocking=True)
        chain = self.generator
        t = torch.randint(0, chain.steps, (len(real),), device=self.device)
        x_t, x_next = q_sample_pairs(chain.schedule, real, t)
        z = torch.randn(len(real), self.config.z_dim, device=self.device)
        x0 = chain.denoiser(x_next, t, z)
        fake = posterior_sample(chain.schedule, x0, x_next, t, torch.randn_like(real))
        logs = self.adversary.update(x_t, fake, condition=(x_next, t))
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        self.observe(real, logs["d_loss"])
        g_loss = self.adversary.loss(fake, condition=(x_next, t))
        logs["g_loss"] = g_loss.item()
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        self.g_stepper.step(g_loss)
        return logs
