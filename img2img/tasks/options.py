"""Option groups: the options several recipes read, each declared once.

A task config composes the groups whose every option it reads, by inheritance::

    @dataclass
    class Pix2PixConfig(WidthOptions, OptimizerOptions, AdversaryOptions, TrainConfig):
        objective: str = AdversaryOptions.option("objective", "vanilla")  # pix2pix's default
        ...

so ``--lr`` or ``--objective`` has one help text and one meaning in every task, and the code
that reads a group takes the group's type (:func:`img2img.tasks.parts.config_adversary`
reads :class:`AdversaryOptions`). Each group's options appear in a section of ``--help``
titled by the group's docstring. Defaults here are the most common ones; a task that differs
says so with :meth:`~img2img.config.OptionGroup.option`.
"""

from __future__ import annotations

from dataclasses import dataclass

from img2img.config import OptionGroup, option
from img2img.losses import objective_option
from img2img.losses.diffaugment import diffaugment_option
from img2img.optim import OPTIMIZERS


@dataclass
class AdversaryOptions(OptionGroup):
    """Adversary: the discriminator's objective, its Lipschitz constraint and unrolling."""

    objective: str = objective_option("nonsaturating")
    gp_weight: float = option(
        0.0, "gradient-penalty weight on the discriminator (--objective wgan-gp brings 10)"
    )
    clip: float = option(
        0.0, "clip discriminator weights to [-clip, clip] (--objective wgan brings 0.01; 0: off)"
    )
    unroll: int = option(
        0,
        "unrolled GAN (Metz et al. 2017): the generator's adversarial loss against the "
        "discriminator after this many differentiable updates of it (0: off)",
    )


@dataclass
class DiffAugmentOptions(OptionGroup):
    """DiffAugment: the same differentiable augmentation of what the discriminator judges."""

    diffaugment: str = diffaugment_option()


@dataclass
class OptimizerOptions(OptionGroup):
    """Optimizer: of every network (the discriminator's rate, where a recipe sets it apart,
    has its own option)."""

    optimizer: str = option("adam", "optimizer", OPTIMIZERS)
    lr: float = option(2e-4, "learning rate")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")


@dataclass
class WidthOptions(OptionGroup):
    """Widths: how wide the networks are."""

    ngf: int = option(64, "generator width (filters of its first or last full-size layer)")
    ndf: int = option(64, "discriminator width (filters of its first layer)")


@dataclass
class ImageChannels(OptionGroup):
    """Data: what an image is."""

    channels: int = option(
        3, "image channels: 3 (RGB) or 1 (grayscale; images read as luma)", (1, 3)
    )


@dataclass
class FlipOptions(OptionGroup):
    """Data: training-time augmentation."""

    flip: bool = option(True, "random horizontal flips of the training images")


@dataclass
class CropOptions(FlipOptions):
    """Data: resize, then a random crop of --image-size."""

    load_size: int = option(
        0, "resize to this before the random crop (0: the recipe's ratio to --image-size)"
    )


@dataclass
class R1Options(OptionGroup):
    """R1: a gradient penalty on real images (Mescheder et al. 2018), lazily applied."""

    r1_gamma: float = option(0.0, "R1 gamma: weight gamma / 2 on ||grad D(real)||^2 (0: off)")
    r1_interval: int = option(
        16, "lazy R1: penalise every this many D steps, weight x interval (StyleGAN2: 16)"
    )
