"""GANs from noise, unconditional and class-conditional, on the same Adversary as pix2pix.

One iteration is Algorithm 1 of Goodfellow et al. (2014) with k = ``d_steps``:

    D: min  d_loss(D(x), D(G(z)))            every iteration (the objective's own form)
    G: min  g_loss(D(G(z)))                  every k-th iteration (``generator_turn()``)

The objective and its paper settings are one option: ``--objective wgan`` brings weight
clipping 0.01, RMSprop 5e-5 and 5 critic steps (Arjovsky et al. 2017); ``wgan-gp`` brings a
gradient penalty of 10, Adam 1e-4 betas (0, 0.9), 5 critic steps and no batch norm in the
critic (Gulrajani et al. 2017); ``hinge`` brings spectral norm (Miyato et al. 2018);
``ebgan`` brings an auto-encoder discriminator whose reconstruction error is the energy,
``--margin`` and the pulling-away term weighted 0.1 (Zhao et al. 2017, see
:mod:`img2img.losses.energy`). Any of them can still be overridden by a flag (see
:data:`OBJECTIVE_PRESETS`). ``--diffaugment`` augments what the discriminator sees
(:mod:`img2img.losses.diffaugment`).

Networks: DCGAN's (Radford et al. 2016), the StyleGAN2-style generator and discriminator
(``--generator style``, ``--discriminator style``, :mod:`img2img.tasks.style`) or, for 2-D
points, the lab's MLPs
(``--net mlp``, :mod:`img2img.tasks.lab`). Data, fixed-latent grids and the failure-mode
watch are shared with the other recipes from noise (:mod:`img2img.tasks.noise`); drawing
from a trained model (``img2img sample``) is :mod:`img2img.sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import option
from img2img.data.toy import get_mixture, is_toy
from img2img.losses import get_objective, objective_choices, objective_presets
from img2img.losses.energy import pulling_away_loss
from img2img.nets import init_weights
from img2img.nets.autoencoder import AutoEncoderDiscriminator
from img2img.nets.blocks import NORMS
from img2img.nets.dcgan import CONDITIONINGS, DCGANDiscriminator, DCGANGenerator
from img2img.nets.stylegan import StyleDiscriminator, StyleGenerator
from img2img.tasks.lab import (
    LAB_OBJECTIVE_PRESETS,
    LAB_PRESETS,
    LabOptions,
    LabRecipe,
    lab_networks,
)
from img2img.tasks.noise import (
    FromNoise,
    NoiseDataOptions,
    NoiseTrainConfig,
    WatchOptions,
    noise_data_presets,
)
from img2img.tasks.options import (
    AdversaryOptions,
    DiffAugmentOptions,
    ImageChannels,
    OptimizerOptions,
    R1Options,
    WidthOptions,
)
from img2img.tasks.parts import config_adversary
from img2img.tasks.registry import register_task
from img2img.tasks.style import (
    PathLength,
    StyleOptions,
    lazy_stepper,
    style_generator,
    style_mixed_fakes,
    style_presets,
)
from img2img.watch import check_losses

# Each objective's paper settings, applied when it is chosen to every field the user
# (flags, YAML) leaves unset. Fields not listed keep the DCGAN defaults of GANConfig; the
# critic's constraint (wgan: clipping at 0.01, wgan-gp: a penalty of 10) is the objective's
# own ``constraint``, added by ``GANConfig.presets``.
OBJECTIVE_PRESETS: dict[str, dict[str, Any]] = {
    "minimax": {},
    "nonsaturating": {},
    "lsgan": {},
    # Arjovsky et al. 2017, Algorithm 1: c = 0.01, RMSProp lr 5e-5, n_critic = 5.
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5},
    # Gulrajani et al. 2017, Algorithm 1: lambda = 10, Adam 1e-4 (0, 0.9), n_critic = 5, and
    # no batch norm in the critic (the penalty is per sample; batch norm couples samples).
    "wgan-gp": {"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "d_steps": 5, "d_norm": "none"},
    # Miyato et al. 2018 (SNGAN) with the hinge loss: spectral norm instead of batch norm.
    "hinge": {"spectral_norm": True, "d_norm": "none"},
    # Zhao et al. 2017: the pulling-away term at 0.1 (EBGAN-PT); MNIST's margin 10 is the
    # field's default. Departure: Adam at DCGAN's settings rather than the paper's per-data
    # set grid-searched learning rates.
    "ebgan": {"pt_weight": 0.1},
}

GENERATORS = ("dcgan", "style")
DISCRIMINATORS = ("dcgan", "style")


@dataclass
class GANConfig(
    StyleOptions,
    LabOptions,
    WatchOptions,
    R1Options,
    ImageChannels,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    NoiseDataOptions,
    NoiseTrainConfig,
):
    """Defaults are DCGAN's (Radford et al. 2016); objectives bring their papers' settings."""

    task: str = option("gan", "which recipe to train")
    net: str = option("dcgan", "networks: dcgan (images) or mlp (2-D toy data)", ("dcgan", "mlp"))
    generator: str = option(
        "dcgan", "image generator: dcgan, or style (StyleGAN2-style, nets/stylegan.py)", GENERATORS
    )
    discriminator: str = option(
        "dcgan",
        "image discriminator: dcgan, or style (StyleGAN2's: residual, equalized lr, minibatch "
        "stddev; --generator style brings it)",
        DISCRIMINATORS,
    )
    z_dim: int = option(100, "noise dimension; z ~ N(0, I)")
    g_norm: str = option("batch", "generator normalisation", NORMS)
    d_norm: str = option("batch", "discriminator normalisation", NORMS)
    objective: str = AdversaryOptions.option(
        "objective", "nonsaturating", choices=objective_choices(energy=True)
    )
    margin: float = option(
        10.0,
        "EBGAN's energy margin m; the paper's: MNIST 10, CelebA 20, ImageNet-128 40, LSUN 80",
    )
    pt_weight: float = option(0.0, "weight of EBGAN's pulling-away term (ebgan: 0.1)")
    d_steps: int = option(1, "discriminator steps per generator step (Algorithm 1's k)")
    d_lr: float = option(0.0, "discriminator learning rate (0: --lr, the generator's)")
    spectral_norm: bool = option(False, "spectral normalisation in the discriminator")
    conditional: bool = option(False, "class-conditional G and D (labels from MNIST/folders)")
    num_classes: int = option(0, "classes for --conditional (set from the data)")
    conditioning: str = option("projection", "how D sees the label", CONDITIONINGS)
    embed_dim: int = option(32, "size of the label embedding joined to z")
    init: str = option("normal", "weight init of DCGAN nets", ("normal", "xavier", "kaiming"))
    init_gain: float = option(0.02, "std (normal) or gain of the weight init")

    def __post_init__(self) -> None:
        """Refuse option combinations that contradict each other, naming both."""
        energy = get_objective(self.objective).energy
        refusals = {
            "--net mlp builds the lab's MLPs: drop --generator style / --discriminator style": (
                self.net == "mlp" and "style" in (self.generator, self.discriminator)
            ),
            "--conditional is not supported with --net mlp (2-D toy data)": self.net == "mlp"
            and self.conditional,
            "--diffaugment augments images; it has no meaning for 2-D points (--net mlp)": (
                self.net == "mlp" and bool(self.diffaugment)
            ),
            "--generator style is unconditional: drop --conditional": self.generator == "style"
            and self.conditional,
            "--discriminator style is unconditional: drop --conditional": (
                self.discriminator == "style" and self.conditional
            ),
            f"--objective {self.objective} brings its own auto-encoder discriminator: drop "
            "--discriminator style": energy and self.discriminator == "style",
            "--spectral-norm wraps the dcgan discriminator's layers; the style discriminator's "
            "equalized layers take none: drop one": (
                self.discriminator == "style" and self.spectral_norm
            ),
            "--pl-weight needs the style generator (--generator style)": self.generator != "style"
            and bool(self.pl_weight),
            f"--pt-weight {self.pt_weight}: the pulling-away term needs an auto-encoder "
            "discriminator's codes (--objective ebgan)": bool(self.pt_weight) and not energy,
            f"--objective {self.objective} has no class-conditional version": energy
            and self.conditional,
        }
        for message, refused in refusals.items():
            if refused:
                raise ValueError(message)

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """Defaults implied by the data, the generator and the objective (objective wins)."""
        data = str(values.get("data", ""))
        stacked = bool(values.get("stacked", False))
        found: dict[str, Any] = (
            dict(LAB_PRESETS) if is_toy(data) else noise_data_presets(data, stacked)
        )
        if values.get("generator") == "style":
            size = values.get("image_size", found.get("image_size", 64))
            found.update(style_presets(size, values.get("batch_size", 64)))
        objective = values.get("objective", "nonsaturating")
        found.update(objective_presets(values, "nonsaturating"))
        found.update(OBJECTIVE_PRESETS.get(objective, {}))
        if is_toy(data):
            found.update(LAB_OBJECTIVE_PRESETS.get(objective, {}))
        if values.get("discriminator", found.get("discriminator")) == "style":
            found.pop("spectral_norm", None)  # hinge's; equalized layers take none
        return found


def build_networks(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) as ``config`` describes them."""
    classes = config.num_classes if config.conditional else 0
    if config.conditional and classes < 1:
        raise ValueError(
            f"{config.data}: --conditional needs labels: MNIST, a folder of class sub-folders, "
            "or --num-classes"
        )
    energy = get_objective(config.objective).energy
    if config.net == "mlp":
        return lab_networks(config, config.z_dim, config.spectral_norm, energy)
    shape = {"image_size": config.image_size, "channels": config.channels}
    if config.generator == "style":
        g: nn.Module = style_generator(config, config.z_dim, ngf=config.ngf, **shape)
    else:
        g = DCGANGenerator(
            z_dim=config.z_dim,
            ngf=config.ngf,
            norm=config.g_norm,
            num_classes=classes,
            embed_dim=config.embed_dim,
            **shape,
        )
    if config.discriminator == "style":
        return g, StyleDiscriminator(**shape, ndf=config.ndf)
    d_options = {**shape, "ndf": config.ndf, "norm": config.d_norm}
    d_options["spectral_norm"] = config.spectral_norm
    if energy:
        return g, AutoEncoderDiscriminator(**d_options)
    d = DCGANDiscriminator(**d_options, num_classes=classes, conditioning=config.conditioning)
    return g, d


@register_task(
    "gan",
    evaluation="samples",
    demo_tab="sample",
    pipeline_tag="unconditional-image-generation",
)
class GAN(LabRecipe, FromNoise):
    """The GAN recipe (see :mod:`img2img.tasks` for the interface)."""

    Config = GANConfig

    @staticmethod
    def build_generator(config: GANConfig) -> nn.Module:
        return build_networks(config)[0]

    def __init__(
        self, config: GANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.mixture = get_mixture(config.data) if is_toy(config.data) else None
        self.generator, discriminator = build_networks(config)
        self.generator.to(device)
        discriminator.to(device)
        self.style = isinstance(self.generator, StyleGenerator)
        if config.net == "dcgan":  # DCGAN's N(0, 0.02); the MLPs keep PyTorch's default
            # and the style networks their equalized-lr N(0, 1) weights.
            kinds = {self.generator: config.generator, discriminator: config.discriminator}
            for net in (net for net, kind in kinds.items() if kind == "dcgan"):
                init_weights(net, kind=config.init, gain=config.init_gain)

        self.path_length = (
            PathLength(config.pl_weight, config.pl_interval, device) if config.pl_weight else None
        )
        # The reference adjusts G's Adam for its interval whether or not path length is on.
        g_interval = config.pl_interval if self.style else 1
        self.g_stepper = lazy_stepper(config, g_interval, total_steps, decay_steps)(self.generator)
        objective = get_objective(config.objective)
        if objective.margin is not None:
            objective = objective.with_margin(config.margin)
        # Lazy R1 (StyleGAN2): gamma * interval every interval-th step, as a step of its own
        # after the main one (the reference's Dreg phase), D's optimizer adjusted for it.
        r1_interval = config.r1_interval if config.r1_gamma else 1
        d_stepper = lazy_stepper(
            config, r1_interval, total_steps, decay_steps, lr=config.d_lr or config.lr
        )
        self.adversary = config_adversary(
            config,
            discriminator,
            d_stepper(discriminator),
            objective=objective,
            r1_weight=config.r1_gamma * r1_interval,
            r1_interval=r1_interval,
            r1_separate=r1_interval > 1,
            d_steps=config.d_steps,
            aux_losses={"pt": (config.pt_weight, pulling_away_loss)} if config.pt_weight else None,
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.watch_samples(config, config.num_classes if config.conditional else 0)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        real, labels = self._real(batch)
        # With k > 1 critic steps, most iterations need no graph through G.
        reuse = self.adversary.d_steps == 1
        with torch.set_grad_enabled(reuse):
            fake = self._fake(len(real), labels)
        logs = self._discriminator_update(real, fake, labels)
        if self.adversary.generator_turn():
            if not reuse:
                fake = self._fake(len(real), labels)
            logs.update(self._generator_update(fake, labels))
        return logs

    def _real(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        self.generator.train()
        real = batch["image"].to(self.device, non_blocking=True)
        labels = batch["label"].to(self.device) if self.labels_fixed is not None else None
        return real, labels

    def _discriminator_update(
        self, real: Tensor, fake: Tensor, labels: Tensor | None
    ) -> dict[str, float]:
        logs = self.adversary.update(real, fake, condition=labels)
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        self.observe(real, logs["d_loss"])
        return logs

    def _generator_update(self, fake: Tensor, labels: Tensor | None) -> dict[str, float]:
        g_loss = self.adversary.loss(fake, condition=labels)
        logs = {**self.adversary.g_logs, "g_loss": g_loss.item()}
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        self.g_stepper.step(g_loss)
        g_step = self.adversary.updates // self.adversary.d_steps
        if self.path_length is not None and self.path_length.due(g_step):
            # A step of its own, as the reference's Greg phase (see tasks.style).
            mixing = self.config.style_mixing
            penalty = self.path_length.term(self.generator, len(fake), logs, mixing)
            check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
            self.g_stepper.step(penalty)
        return logs

    def _fake(self, n: int, labels: Tensor | None) -> Tensor:
        """A training batch of fakes; a style generator's with style mixing."""
        z = torch.randn(n, self.config.z_dim, device=self.device)
        if not self.style:
            return self.generator(z, labels)
        z_mix = torch.randn(n, self.config.z_dim, device=self.device)
        return style_mixed_fakes(self.generator, z, z_mix, self.config.style_mixing)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return state if self.path_length is None else {**state, **self.path_length.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.path_length is not None:
            self.path_length.load_state_dict(state)
