"""Context Encoders (Pathak et al., CVPR 2016): inpainting with a reconstruction loss and
an adversary.

The generator (:class:`img2img.nets.context_encoder.ContextEncoder`) sees an image whose
hole is filled with the training data's mean pixel and predicts the hole; a DCGAN
discriminator judges the prediction. One iteration, in the paper's notation (M the hole,
B the ``--overlap`` band of known pixels around it that the network also predicts):

    D: max  log D(x) + log(1 - D(F(x)))
    G: min  0.999 * L2_w(F(x), x; M, B) + 0.001 * (-log D(F(x)))   (non-saturating)

with L2_w the weighted mean squared error of :func:`img2img.losses.inpainting.hole_l2`
over ``--l2-region``: ``hole``, the hole and its band (weight ``--overlap-weight`` 10 on the
band), or ``image``, every pixel (weight ``--overlap-weight`` on the known ones). What D
judges is ``--d-input``: ``hole``, the predicted square only (the reference's centre-hole
setup; needs ``--mask center``), ``output``, the raw prediction of the whole image, or
``image``, the completed image (real pixels outside the hole, the prediction inside).
``--l2-weight 1`` gives the L2-only network the paper compares with (the discriminator is
then not trained).

The defaults are ``train.lua``'s as its README runs it (``wtl2=0.999 overlapPred=4
nBottleneck=4000``, 128 px, batch 64): the generator's learning rate is 10 x the
discriminator's, 2e-3 and 2e-4 (the reference's rule for 0 < wtl2 < 1; an L2-only or
adversarial-only model takes 2e-4 for both), and images keep their aspect ratio, the
shorter side resized to ``--load-size`` before the random crop. ``--mask random-region``
brings ``train_random.lua``'s objective: L2 over the whole image with equal weights (its
README's ``useOverlapPred=0``; ``--overlap-weight 10`` is its ``useOverlapPred=1``, known
pixels 10 x) and D judging the raw output (``--d-input output``). The other random masks
are this toolkit's: L2 over the hole and band, D judging the completed image.

Departures from the reference code, each a choice this toolkit makes:

- the generator outputs the full image, not only the hole's square (one network for every
  mask shape); only its hole (and band, for the loss) is used;
- the hole is filled with the mean pixel of the training data (measured at the start of a
  run and saved in the generator) rather than ImageNet's mean;
- ``--load-size`` defaults to 350/128 of ``--image-size`` (350 at 128 px, the reference);
  test images are resized the same way and centre-cropped, so they are at the training
  scale;
- every image of a batch has its own random hole (``train_random.lua`` uses one per batch);
- with one image per batch the 1 x 1 code of the 4x4-conv bottleneck is not batch-normalised
  (see :mod:`img2img.nets.context_encoder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.config import TrainConfig, option
from img2img.data import resolve_split
from img2img.data.inpaint import HALVES, TEST_MASK_SEED, InpaintFolder
from img2img.data.masks import MASKS, center_box, mask_for, overlap_band
from img2img.data.transforms import preprocess_option
from img2img.losses import objective_presets
from img2img.losses.inpainting import hole_l2
from img2img.nets import init_weights
from img2img.nets.batchnorm import inference_copy
from img2img.nets.context_encoder import ContextEncoder
from img2img.nets.dcgan import DCGANDiscriminator
from img2img.tasks.options import (
    AdversaryOptions,
    CropOptions,
    DiffAugmentOptions,
    OptimizerOptions,
    WidthOptions,
)
from img2img.tasks.parts import StateFromParts, config_adversary, stepper_factory
from img2img.tasks.registry import register_task

D_INPUTS = ("hole", "output", "image")
L2_REGIONS = ("hole", "image")
# The reference's (train.lua) learning rates: G's is 10 x D's when 0 < wtl2 < 1, else equal.
MIXED_LR, SINGLE_LR = 2e-3, 2e-4
MEAN_PIXEL_IMAGES = 64
"""Training images whose mean pixel fills the hole: enough for a mean to 1/255."""


@dataclass
class InpaintConfig(
    CropOptions,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are the reference code's (``context-encoder/train.lua``, centre hole, as its
    README runs it); ``--load-size 0`` resizes to image_size * 350/128 before the crop,
    ``--ngf`` is the decoder's width (its last hidden layer) and ``--lr`` the generator's."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """What D sees and where L2 counts follow the mask (the centre hole: train.lua's
        square; random regions: train_random.lua's whole image; other masks: the completed
        image and the hole); the learning rates follow the loss mix (train.lua's rule)."""
        mask = values.get("mask", "center")
        presets: dict[str, Any] = {"d_input": "image", "l2_region": "hole"}
        if mask == "center":
            presets["d_input"] = "hole"
        elif mask == "random-region":
            presets.update(d_input="output", l2_region="image", overlap_weight=1.0)
        mixed = 0 < values.get("l2_weight", 0.999) < 1
        presets.update(lr=MIXED_LR if mixed else SINGLE_LR, d_lr_ratio=0.1 if mixed else 1.0)
        return {**objective_presets(values, "nonsaturating"), **presets}

    task: str = option("inpaint", "which recipe to train")
    data: str = option("", "image folder (DIR/train + DIR/test, or flat); --half for A|B files")
    half: str = option("", "A|B files: A takes the left half, B the right ('': whole)", HALVES)
    image_size: int = option(128, "training crop in pixels (4 * 2**k: 32, 64, 128)")
    batch_size: int = option(64, "images per optimisation step")
    epochs: int = option(25, "total epochs (the reference's niter)")
    decay_epochs: int = option(0, "final epochs of linear LR decay (0: constant, the reference)")
    mask: str = option("center", "hole shape during training (and the default at inference)", MASKS)
    preprocess: str = preprocess_option(
        "scale_shorter_and_crop",
        ("scale_shorter_and_crop", "resize_and_crop"),
        saved_default="resize_and_crop",
    )
    overlap: int = option(4, "band of known pixels around the hole the network also predicts")
    overlap_weight: float = option(
        10.0, "L2 weight on the known pixels in the L2 region (the band) relative to the hole"
    )
    l2_region: str = option(
        "hole",
        "where L2 counts: hole (and its --overlap band), or image (every pixel)",
        L2_REGIONS,
        saved_default="hole",
    )
    bottleneck: str = option("4000", "code size of the 4x4-conv bottleneck, or 'channelwise'")
    mask_channel: bool = option(False, "give the generator the mask as a fourth channel")
    nef: int = option(64, "encoder width (filters in the first layer)")
    d_input: str = option(
        "hole",
        "what D sees: the predicted square, the raw output or the completed image",
        D_INPUTS,
    )
    l2_weight: float = option(0.999, "weight of L2; the adversarial term gets 1 - l2_weight")
    lr: float = OptimizerOptions.option("lr", MIXED_LR)  # the generator's; presets: by l2_weight
    d_lr_ratio: float = option(0.1, "discriminator's learning rate / the generator's")

    def __post_init__(self) -> None:
        if self.bottleneck != "channelwise" and not self.bottleneck.isdigit():
            raise ValueError(f"bottleneck={self.bottleneck!r}: give a code size or 'channelwise'")
        if self.d_input == "hole" and self.mask != "center":
            raise ValueError(
                f"d_input='hole' needs mask='center' (a fixed square to crop); with "
                f"mask={self.mask!r} use d_input='image'"
            )
        if not 0 <= self.l2_weight <= 1:
            raise ValueError(f"l2_weight={self.l2_weight}: use a value in [0, 1]")


def load_size(config: InpaintConfig) -> int:
    return config.load_size or round(config.image_size * 350 / 128)


def mean_pixel(dataset: InpaintFolder, count: int = MEAN_PIXEL_IMAGES) -> Tensor:
    """The mean colour (3,) of up to ``count`` evenly spaced items of ``dataset``."""
    step = max(1, len(dataset) // count)
    images = [dataset[i]["target"] for i in range(0, len(dataset), step)][:count]
    return torch.stack(images).mean(dim=(0, 2, 3))


def composite(image: Tensor, prediction: Tensor, mask: Tensor) -> Tensor:
    """``image`` outside the hole, ``prediction`` inside it."""
    return torch.where(mask.bool(), prediction, image)


@register_task("inpaint", evaluation="inpainting", demo_tab="inpaint")
class Inpaint(StateFromParts):
    """The Context Encoder recipe (see :mod:`img2img.tasks` for the interface)."""

    Config = InpaintConfig

    @staticmethod
    def dataset(
        config: InpaintConfig, split: str, augment: bool | None = None
    ) -> InpaintFolder | None:
        root = resolve_split(config.data, split)
        if root is None:
            return None
        return InpaintFolder(
            root,
            mask=config.mask,
            load_size=load_size(config),
            crop_size=config.image_size,
            half=config.half,
            flip=config.flip,
            overlap=config.overlap,
            train=split == "train" if augment is None else augment,
            seed=config.seed,
            preprocess=config.preprocess,
        )

    @classmethod
    def build_generator(cls, config: InpaintConfig) -> ContextEncoder:
        bottleneck = config.bottleneck
        return ContextEncoder(
            image_size=config.image_size,
            nef=config.nef,
            ngf=config.ngf,
            bottleneck=bottleneck if bottleneck == "channelwise" else int(bottleneck),
            mask_channel=config.mask_channel,
            code_norm=not cls.per_image_statistics(config),
        )

    @staticmethod
    def default_mask(config: InpaintConfig, size: tuple[int, int]) -> Tensor:
        """The mask an image of ``size`` = (H, W) gets when the user gives none: the
        training mask (the first test item's, for a random kind), resized by nearest
        neighbour: (1, 1, H, W)."""
        mask = mask_for(config.mask, config.image_size, TEST_MASK_SEED, 0, 0, config.overlap)
        return F.interpolate(mask[None], size=size, mode="nearest")

    @staticmethod
    def per_image_statistics(config: InpaintConfig) -> bool:
        return config.batch_size == 1

    def __init__(
        self, config: InpaintConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config)
        d_size = config.image_size // 2 if config.d_input == "hole" else config.image_size
        discriminator = DCGANDiscriminator(image_size=d_size, ndf=config.ndf)
        for net in (self.generator, discriminator):
            init_weights(net, kind="normal", gain=0.02)
        self.generator.fill.copy_(mean_pixel(self.dataset(config, "train", augment=False)))
        self.generator.to(device)
        discriminator.to(device)
        self.g_stepper = stepper_factory(config, total_steps, decay_steps)(self.generator)
        d_stepper = stepper_factory(config, total_steps, decay_steps, config.lr * config.d_lr_ratio)
        self.adversary = config_adversary(config, discriminator, d_stepper(discriminator))
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}

    def discriminator_view(self, image: Tensor, prediction: Tensor, mask: Tensor) -> Tensor:
        """What D judges of ``prediction`` (or of the real ``image``, passed as both):
        the centre square for ``--d-input hole``, the prediction itself for ``output``,
        else the completed image."""
        if self.config.d_input == "hole":
            start, end = center_box(self.config.image_size)
            return prediction[..., start:end, start:end]
        if self.config.d_input == "output":
            return prediction
        return composite(image, prediction, mask)

    def l2_weights(self, mask: Tensor) -> Tensor:
        """The pixels beside the hole that L2 counts (``--overlap-weight`` each): the band
        around the hole, or for ``--l2-region image`` every known pixel."""
        if self.config.l2_region == "image":
            return 1 - mask
        return overlap_band(mask, self.config.overlap)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        image = batch["target"].to(self.device, non_blocking=True)
        mask = batch["mask"].to(self.device, non_blocking=True)
        prediction = self.generator(image, mask)
        band = self.l2_weights(mask)
        g_l2 = hole_l2(prediction, image, mask, band, self.config.overlap_weight)
        loss = self.config.l2_weight * g_l2
        logs = {"g_l2": g_l2.item()}
        adversarial_weight = 1 - self.config.l2_weight
        if adversarial_weight:
            fake = self.discriminator_view(image, prediction, mask)
            real = self.discriminator_view(image, image, mask)
            logs.update(self.adversary.update(real=real, fake=fake))
            g_gan = self.adversary.loss(fake)
            loss = loss + adversarial_weight * g_gan
            logs["g_gan"] = g_gan.item()
        self.g_stepper.step(loss)
        return logs

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[Tensor]:
        image = batch["target"].to(self.device)
        mask = batch["mask"].to(self.device)
        network = inference_copy(self.generator, self.per_image_statistics(self.config))
        completed = composite(image, network(image, mask), mask)
        return [network.fill_hole(image, mask), completed, image]
