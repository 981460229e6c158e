"""pix2pix (Isola et al., 2017): paired translation with a conditional GAN plus L1.

The generator maps input a to output G(a); a PatchGAN judges (a, b) pairs, so the
adversarial term asks for realistic *local* texture given the input while L1 keeps the
low frequencies right. The loss of one iteration, in the paper's notation:

    D: max  log D(a, b) + log(1 - D(a, G(a)))          (halved, as in the paper's code)
    G: min  -log D(a, G(a)) + lambda_l1 * |b - G(a)|_1  (non-saturating, lambda_l1 = 100)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from img2img.config import TrainConfig, option
from img2img.data import PairedImageFolder, resolve_split
from img2img.data.augment import augment_option
from img2img.data.layouts import IMAGES, PAIRED_FOLDERS, require_layout
from img2img.data.transforms import load_size_for, preprocess_option
from img2img.losses import objective_presets
from img2img.nets import PatchGAN, ResNetGenerator, UNet, init_weights, unet_depth_for
from img2img.nets.batchnorm import inference_copy
from img2img.nets.blocks import NORMS
from img2img.nets.multiscale import MultiScaleDiscriminator
from img2img.tasks.options import (
    AdversaryOptions,
    CropOptions,
    DiffAugmentOptions,
    ImageChannels,
    OptimizerOptions,
    WidthOptions,
)
from img2img.tasks.parts import StateFromParts, config_adversary, size_multiple_for, stepper_factory
from img2img.tasks.registry import register_task

PIX2PIX_LAYOUTS = {
    IMAGES: "train/*.png, each image A on the left and B on the right",
    PAIRED_FOLDERS: "train/A/NAME with train/B/NAME",
}


@dataclass
class Pix2PixConfig(
    CropOptions,
    ImageChannels,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are the paper's facades setup (Isola et al., 2017, and its reference code);
    ``--load-size 0`` resizes to image_size * 286/256 before the crop."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """A Wasserstein objective brings its critic constraint (see :func:`merge`)."""
        return objective_presets(values, "vanilla")

    task: str = option("pix2pix", "which recipe to train")
    direction: str = option(
        "AtoB", "AtoB: left half is the input; BtoA: right half", ("AtoB", "BtoA")
    )
    preprocess: str = preprocess_option()
    augment: str = augment_option()
    generator: str = option("unet", "generator architecture", ("unet", "resnet"))
    resnet_blocks: int = option(9, "residual blocks when --generator resnet")
    d_layers: int = option(3, "PatchGAN strided layers: 3 -> 70x70 patches, 0 -> 1x1 PixelGAN")
    num_d: int = option(1, "PatchGANs on the pair downsampled by 1, 2, 4, ... (pix2pixHD: 3)")
    feature_matching: float = option(
        0.0, "weight of pix2pixHD's discriminator feature matching loss (0: off; pix2pixHD: 10)"
    )
    norm: str = option("batch", "normalisation layers", NORMS)
    dropout: float = option(0.5, "generator dropout (the paper's only noise source)")
    objective: str = AdversaryOptions.option("objective", "vanilla")
    spectral_norm: bool = option(False, "spectral normalisation on the discriminator")
    lambda_l1: float = option(100.0, "weight of the L1 reconstruction loss")
    init: str = option("normal", "weight init", ("normal", "xavier", "kaiming", "orthogonal"))
    init_gain: float = option(0.02, "std (normal) or gain of the weight init")


@register_task("pix2pix", evaluation="aligned", demo_tab="translate")
class Pix2Pix(StateFromParts):
    """The pix2pix recipe over the shared parts (see :mod:`img2img.tasks` for the interface)."""

    Config = Pix2PixConfig

    @staticmethod
    def dataset(
        config: Pix2PixConfig, split: str, augment: bool | None = None
    ) -> PairedImageFolder | None:
        if split == "train":
            require_layout(config.data, "pix2pix", PIX2PIX_LAYOUTS)
        root = resolve_split(config.data, split)
        if root is None:
            return None
        augment = split == "train" if augment is None else augment
        return PairedImageFolder(
            root,
            direction=config.direction,
            load_size=load_size_for(config.image_size, config.load_size),
            crop_size=config.image_size,
            flip=config.flip,
            train=augment,
            seed=config.seed,
            preprocess=config.preprocess,
            size_multiple=size_multiple_for(config.generator, config.image_size),
            augment=config.augment,
            channels=config.channels,
        )

    @staticmethod
    def build_generator(config: Pix2PixConfig) -> nn.Module:
        if config.generator == "unet":
            return UNet(
                in_channels=config.channels,
                out_channels=config.channels,
                ngf=config.ngf,
                num_downs=unet_depth_for(config.image_size),
                norm=config.norm,
                dropout=config.dropout,
            )
        return ResNetGenerator(
            in_channels=config.channels,
            out_channels=config.channels,
            ngf=config.ngf,
            n_blocks=config.resnet_blocks,
            norm=config.norm,
            dropout=config.dropout,
        )

    @staticmethod
    def per_image_statistics(config: Pix2PixConfig) -> bool:
        return config.norm == "batch" and config.batch_size == 1

    def __init__(
        self, config: Pix2PixConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config).to(device)
        patchgan = {
            # The discriminator sees (input, output) stacked: it is conditional.
            "in_channels": 2 * config.channels,
            "ndf": config.ndf,
            "n_layers": config.d_layers,
            "norm": config.norm,
            "spectral_norm": config.spectral_norm,
        }
        if config.num_d > 1 or config.feature_matching:  # pix2pixHD's options
            discriminator = MultiScaleDiscriminator(num_d=config.num_d, **patchgan).to(device)
        else:
            discriminator = PatchGAN(**patchgan).to(device)
        for net in (self.generator, discriminator):
            init_weights(net, kind=config.init, gain=config.init_gain)

        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        # The paper halves D's objective "to slow down the rate at which D learns relative to G".
        self.adversary = config_adversary(
            config, discriminator, stepper(discriminator), d_loss_weight=0.5
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        a = batch["input"].to(self.device, non_blocking=True)
        b = batch["target"].to(self.device, non_blocking=True)
        fake = self.generator(a)
        logs = self.adversary.update(real=torch.cat([a, b], 1), fake=torch.cat([a, fake], 1))
        g_gan = self.adversary.loss(torch.cat([a, fake], 1))
        g_l1 = F.l1_loss(fake, b)
        loss = g_gan + self.config.lambda_l1 * g_l1
        logs.update(g_gan=g_gan.item(), g_l1=g_l1.item())
        if self.config.feature_matching:
            g_feat = self.adversary.feature_matching(torch.cat([a, fake], 1), torch.cat([a, b], 1))
            loss = loss + self.config.feature_matching * g_feat
            logs["g_feat"] = g_feat.item()
        self.g_stepper.step(loss)
        return logs

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        a = batch["input"].to(self.device)
        network = inference_copy(self.generator, self.per_image_statistics(self.config))
        return [a, network(a), batch["target"].to(self.device)]
