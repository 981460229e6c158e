"""CycleGAN (Zhu et al., 2017) and DualGAN (Yi et al., 2017): unpaired translation.

Two generators, G_AB: A -> B and G_BA: B -> A, and two discriminators, one judging each
domain. With no pairs to compare against, the adversarial terms make G_AB(a) look like a B
image and G_BA(b) like an A image, and cycle consistency makes each generator invert the
other, which rules out mappings that throw the input away:

    D_B: min  d_loss(D_B(b), D_B(pool_B(G_AB(a))))     (and D_A the same way round)
    G:   min  g_loss(D_B(G_AB(a))) + g_loss(D_A(G_BA(b)))
              + lambda_a |G_BA(G_AB(a)) - a|_1 + lambda_b |G_AB(G_BA(b)) - b|_1
              + lambda_identity (lambda_b |G_AB(b) - b|_1 + lambda_a |G_BA(a) - a|_1)

CycleGAN uses the LSGAN objective, a pool of past fakes per discriminator and the
identity term (which keeps colours when nothing asks to change them). DualGAN is the same
loss with a WGAN critic kept Lipschitz by weight clipping, RMSprop, U-Net generators and
no pool or identity term: here it is the preset ``dualgan``, a set of option values.

The discriminators step before the generators in each iteration (the Adversary's rhythm:
``d_steps`` critic steps per generator step). The CycleGAN reference code steps the
generators first; both alternate the same two updates, half an iteration apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from img2img.config import TrainConfig, option
from img2img.data import UnpairedImageFolder, resolve_unpaired
from img2img.data.augment import augment_option
from img2img.data.transforms import load_size_for, preprocess_option
from img2img.losses import Adversary, objective_presets
from img2img.nets import (
    DISCRIMINATORS,
    ResNetGenerator,
    UNet,
    build_discriminator,
    init_weights,
    unet_depth_for,
)
from img2img.nets.batchnorm import inference_copy
from img2img.nets.blocks import NORMS
from img2img.tasks.image_pool import ImagePool
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

DIRECTIONS = ("AtoB", "BtoA")

# DualGAN (Yi et al., 2017, section 4 and its code): pix2pix's U-Net with dropout as the
# noise source, the 70x70 PatchGAN, WGAN with weights clipped to 0.01, RMSprop 5e-5 at a
# constant rate, two critic steps per generator step, and large L1 reconstruction weights
# (the paper sets them between 100 and 1000 depending on the domains).
DUALGAN = {
    "generator": "unet",
    "norm": "batch",
    "dropout": 0.5,
    "objective": "wgan",
    "clip": 0.01,
    "d_steps": 2,
    "d_loss_weight": 1.0,
    "lambda_a": 500.0,
    "lambda_b": 500.0,
    "lambda_identity": 0.0,
    "pool_size": 0,
    "optimizer": "rmsprop",
    "lr": 5e-5,
    "decay_epochs": 0,
}


@dataclass
class CycleGANConfig(
    CropOptions,
    ImageChannels,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are the CycleGAN paper's (Zhu et al., 2017, and its reference code);
    ``--load-size 0`` resizes to image_size * 286/256 before the crop."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """DualGAN's values when ``--preset dualgan`` is chosen (see :func:`config.merge`:
        they replace defaults only, so any option given as well overrides them), and a
        Wasserstein objective's critic constraint."""
        dualgan = DUALGAN if values.get("preset") == "dualgan" else {}
        return {**objective_presets({**dualgan, **values}, "lsgan"), **dualgan}

    task: str = option("cyclegan", "which recipe to train")
    preset: str = option(
        "cyclegan",
        "cyclegan: the defaults shown; dualgan: "
        + ", ".join(f"{name}={value}" for name, value in DUALGAN.items())
        + " (any option given as well overrides the preset)",
        ("cyclegan", "dualgan"),
    )
    preprocess: str = preprocess_option()
    augment: str = augment_option()
    generator: str = option(
        "resnet", "generator architecture (both directions)", ("resnet", "unet")
    )
    resnet_blocks: int = option(0, "residual blocks (0: 9, or 6 when image_size <= 128)")
    discriminator: str = option("patchgan", "discriminator architecture", tuple(DISCRIMINATORS))
    d_layers: int = option(3, "PatchGAN strided layers: 3 -> 70x70 patches")
    norm: str = option("instance", "normalisation layers (generators and discriminators)", NORMS)
    dropout: float = option(0.0, "generator dropout")
    spectral_norm: bool = option(False, "spectral normalisation on the discriminators")
    objective: str = AdversaryOptions.option("objective", "lsgan")
    d_steps: int = option(1, "discriminator steps per generator step")
    d_loss_weight: float = option(0.5, "scale of the discriminator objective (CycleGAN halves it)")
    lambda_a: float = option(10.0, "weight of the A -> B -> A cycle loss (L1)")
    lambda_b: float = option(10.0, "weight of the B -> A -> B cycle loss (L1)")
    lambda_identity: float = option(
        0.5, "identity loss |G_AB(b) - b| weight, as a fraction of lambda_b (and for A)"
    )
    pool_size: int = option(50, "past fakes each discriminator draws from (0: none)")
    init: str = option("normal", "weight init", ("normal", "xavier", "kaiming", "orthogonal"))
    init_gain: float = option(0.02, "std (normal) or gain of the weight init")


def one_generator(config: CycleGANConfig) -> nn.Module:
    """One direction's network, as the config describes it."""
    if config.generator == "unet":
        return UNet(
            in_channels=config.channels,
            out_channels=config.channels,
            ngf=config.ngf,
            num_downs=unet_depth_for(config.image_size),
            norm=config.norm,
            dropout=config.dropout,
        )
    # The paper: 9 blocks for 256x256 training images, 6 for 128x128.
    blocks = config.resnet_blocks or (9 if config.image_size > 128 else 6)
    return ResNetGenerator(
        in_channels=config.channels,
        out_channels=config.channels,
        ngf=config.ngf,
        n_blocks=blocks,
        norm=config.norm,
        dropout=config.dropout,
    )


@register_task("cyclegan", evaluation="two-way", demo_tab="translate", directions=DIRECTIONS)
class CycleGAN(StateFromParts):
    """The CycleGAN/DualGAN recipe over the shared parts (see :mod:`img2img.tasks`).

    ``generator`` is an ``nn.ModuleDict`` {"AtoB": G_AB, "BtoA": G_BA}: a checkpoint holds
    both directions and ``translate(..., direction=...)`` picks one.
    """

    Config = CycleGANConfig

    @staticmethod
    def dataset(
        config: CycleGANConfig, split: str, augment: bool | None = None
    ) -> UnpairedImageFolder | None:
        folders = resolve_unpaired(config.data, split)
        if folders is None:
            return None
        augment = split == "train" if augment is None else augment
        return UnpairedImageFolder(
            *folders,
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
    def build_generator(config: CycleGANConfig) -> nn.ModuleDict:
        return nn.ModuleDict({direction: one_generator(config) for direction in DIRECTIONS})

    @staticmethod
    def per_image_statistics(config: CycleGANConfig) -> bool:
        return config.norm == "batch" and config.batch_size == 1

    def __init__(
        self, config: CycleGANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config).to(device)
        init_weights(self.generator, kind=config.init, gain=config.init_gain)

        stepper = stepper_factory(config, total_steps, decay_steps)

        def adversary() -> Adversary:
            discriminator = build_discriminator(
                config.discriminator,
                # Unconditional: it judges an image of its domain alone.
                in_channels=config.channels,
                ndf=config.ndf,
                n_layers=config.d_layers,
                norm=config.norm,
                spectral_norm=config.spectral_norm,
            ).to(device)
            init_weights(discriminator, kind=config.init, gain=config.init_gain)
            return config_adversary(
                config,
                discriminator,
                stepper(discriminator),
                d_steps=config.d_steps,
                d_loss_weight=config.d_loss_weight,
            )

        # One optimizer over both generators, as in the reference code: the cycle losses
        # couple them, so they take one step on one total loss.
        self.g_stepper = stepper(self.generator)
        self.adversaries = {"A": adversary(), "B": adversary()}  # keyed by the domain judged
        self.pools = {"A": ImagePool(config.pool_size), "B": ImagePool(config.pool_size)}
        self.steppers = {
            "generator": self.g_stepper,
            "discriminator_A": self.adversaries["A"].stepper,
            "discriminator_B": self.adversaries["B"].stepper,
        }

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        cfg = self.config
        self.generator.train()
        g_ab, g_ba = self.generator["AtoB"], self.generator["BtoA"]
        real = {d: batch[d].to(self.device, non_blocking=True) for d in ("A", "B")}
        fake = {"B": g_ab(real["A"]), "A": g_ba(real["B"])}

        logs: dict[str, float] = {}
        for domain, adversary in self.adversaries.items():
            pooled = self.pools[domain].query(fake[domain])
            d_logs = adversary.update(real=real[domain], fake=pooled)
            logs.update({f"{name}_{domain}": value for name, value in d_logs.items()})
        if not self.adversaries["B"].generator_turn():
            return logs

        terms = {
            "g_gan_AtoB": (1.0, self.adversaries["B"].loss(fake["B"])),
            "g_gan_BtoA": (1.0, self.adversaries["A"].loss(fake["A"])),
            "cycle_A": (cfg.lambda_a, F.l1_loss(g_ba(fake["B"]), real["A"])),
            "cycle_B": (cfg.lambda_b, F.l1_loss(g_ab(fake["A"]), real["B"])),
        }
        if cfg.lambda_identity > 0:
            # G_AB given a B image should leave it alone (and G_BA an A image).
            idt = cfg.lambda_identity
            terms["idt_B"] = (idt * cfg.lambda_b, F.l1_loss(g_ab(real["B"]), real["B"]))
            terms["idt_A"] = (idt * cfg.lambda_a, F.l1_loss(g_ba(real["A"]), real["A"]))
        self.g_stepper.step(sum(weight * value for weight, value in terms.values()))
        return {**logs, **{name: value.item() for name, (_, value) in terms.items()}}

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Columns real | translated | reconstructed; the A rows, then the B rows."""
        real_a, real_b = batch["A"].to(self.device), batch["B"].to(self.device)
        network = inference_copy(self.generator, self.per_image_statistics(self.config))
        g_ab, g_ba = network["AtoB"], network["BtoA"]
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        return [torch.cat([real_a, real_b]), torch.cat([fake_b, fake_a]), torch.cat([rec_a, rec_b])]

    def state_parts(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "g_stepper": self.g_stepper,
            **{f"adversary_{d}": adversary for d, adversary in self.adversaries.items()},
            **{f"pool_{d}": pool for d, pool in self.pools.items()},
        }
