"""A recipe in one file: denoising with a conditional GAN (docs/adding-a-recipe.md).

Copy this file to start a recipe of your own. Everything img2img needs from a recipe is
here, and nothing else in img2img has to change:

1. a config dataclass: the option groups it reads (adversary, optimizer, widths, ...) and
   its own options, whose defaults are the paper's;
2. a task class registered with :func:`img2img.tasks.register_task`, naming the evaluation
   protocol (``img2img eval`` and ``--val-every``) and the demo tab that fit its models;
3. ``dataset``, ``build_generator`` and one training iteration, ``step``, over the
   Adversary: the adversarial term is one more loss.

Use it from Python after importing it (``import recipe_template``), or from another package
by declaring the module in the ``img2img.tasks`` entry-point group of its pyproject.toml::

    [project.entry-points."img2img.tasks"]
    denoise = "my_package.recipe_template"

after which ``img2img train --task denoise --data DIR``, ``img2img eval``, ``translate``,
``export`` and the demo's image-translation tab all serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from img2img.config import TrainConfig, option
from img2img.data import resolve_split
from img2img.data.autoencoding import ReconstructionFolder
from img2img.data.transforms import make_generator
from img2img.nets import PatchGAN, UNet, init_weights, unet_depth_for
from img2img.tasks import register_task
from img2img.tasks.options import AdversaryOptions, OptimizerOptions, WidthOptions
from img2img.tasks.parts import StateFromParts, config_adversary, stepper_factory


@dataclass
class DenoiseConfig(WidthOptions, OptimizerOptions, AdversaryOptions, TrainConfig):
    """Defaults are pix2pix's where they apply (Adam 2e-4, betas (0.5, 0.999), L1 100)."""

    task: str = option("denoise", "which recipe to train")
    image_size: int = option(64, "images are resized to this square size")
    batch_size: int = option(4, "images per optimisation step")
    noise: float = option(0.2, "std of the Gaussian noise on the inputs (images in [-1, 1])")
    l1_weight: float = option(100.0, "weight of the L1 loss to the clean image")


class NoisyFolder(ReconstructionFolder):
    """Each image (the target) with Gaussian noise added (the input). The noise of an image
    is drawn from its own generator, seeded by (seed, index), so data order, workers and
    resumed runs never change it."""

    def __init__(self, root: str, image_size: int, noise: float, seed: int) -> None:
        super().__init__(root, image_size=image_size)
        self.noise, self.seed = noise, seed

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        clean = item["target"]
        generator = make_generator(self.seed, index)
        noise = torch.randn(clean.shape, generator=generator) * self.noise
        return {**item, "input": (clean + noise).clamp(-1, 1)}


@register_task("denoise", evaluation="aligned", demo_tab="translate")
class Denoise(StateFromParts):
    """Noisy image -> clean image: a U-Net, L1 to the clean image, and a conditional
    PatchGAN judging (noisy, clean) pairs, as pix2pix judges (input, output)."""

    Config = DenoiseConfig

    @staticmethod
    def dataset(config: DenoiseConfig, split: str, augment: bool | None = None) -> Any:
        root = resolve_split(config.data, split)
        if root is None:
            return None
        return NoisyFolder(root, config.image_size, config.noise, config.seed)

    @staticmethod
    def build_generator(config: DenoiseConfig) -> nn.Module:
        depth = unet_depth_for(config.image_size)
        return UNet(in_channels=3, out_channels=3, ngf=config.ngf, num_downs=depth, norm="instance")

    @staticmethod
    def per_image_statistics(config: DenoiseConfig) -> bool:
        return False  # instance norm: nothing to convert at inference

    def __init__(
        self, config: DenoiseConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config, self.device = config, device
        self.generator = self.build_generator(config).to(device)
        discriminator = PatchGAN(in_channels=6, ndf=config.ndf, norm="instance").to(device)
        for network in (self.generator, discriminator):
            init_weights(network, kind="normal", gain=0.02)
        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        self.adversary = config_adversary(config, discriminator, stepper(discriminator))
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        noisy = batch["input"].to(self.device)
        clean = batch["target"].to(self.device)
        fake = self.generator(noisy)
        logs = self.adversary.update(
            real=torch.cat([noisy, clean], 1), fake=torch.cat([noisy, fake], 1)
        )
        g_gan = self.adversary.loss(torch.cat([noisy, fake], 1))
        g_l1 = F.l1_loss(fake, clean)
        self.g_stepper.step(g_gan + self.config.l1_weight * g_l1)
        return {**logs, "g_gan": g_gan.item(), "g_l1": g_l1.item()}

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Progress-grid columns: noisy input, output, clean target."""
        noisy = batch["input"].to(self.device)
        self.generator.eval()
        return [noisy, self.generator(noisy), batch["target"].to(self.device)]
