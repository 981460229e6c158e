"""SRResNet and SRGAN (Ledig et al., CVPR 2017): single-image super-resolution.

Two phases, as in the paper:

1. ``psnr``: the SRResNet trained with a pixel loss (MSE in the paper; L1 optional). This
   maximises PSNR and gives the smooth, slightly blurry average of the plausible HR images.
2. ``gan``: fine-tuning from phase 1 with

       G: min  perceptual_weight * d(phi(G(x)), phi(y)) + adversarial_weight * (-log D(G(x)))
                 [+ gan_pixel_weight * pixel(G(x), y)]
       D: max  log D(y) + log(1 - D(G(x)))

   with phi a frozen feature network (:mod:`img2img.losses.perceptual`) and the paper's
   adversarial weight 1e-3, which trades PSNR for texture.

``--phase both`` runs phase 1 for ``psnr_steps`` iterations (0: half the run) and phase 2
for the rest, inside one run: the switch is a function of the task's iteration counter.
Both the counter and the switch point are part of its state, so a run resumed on either
side of the switch continues exactly, and resuming with a larger ``--max-steps`` extends
the GAN phase instead of moving the switch. ``--phase gan --init-from runs/sr_psnr``
starts phase 2 from a separate phase-1 model. The discriminator exists (and is saved) in
every phase, so a checkpoint's layout does not depend on the phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from img2img.config import TrainConfig, option
from img2img.data.folders import resolve_split
from img2img.data.layouts import CLASS_FOLDERS, IMAGES, require_layout
from img2img.data.sr import DEGRADATIONS, SRImageFolder, split_folders
from img2img.losses import objective_presets
from img2img.losses.perceptual import BACKBONES, PerceptualLoss
from img2img.nets.srresnet import SRGANDiscriminator, SRResNet
from img2img.tasks.options import (
    AdversaryOptions,
    DiffAugmentOptions,
    FlipOptions,
    OptimizerOptions,
    WidthOptions,
)
from img2img.tasks.parts import (
    StateFromParts,
    config_adversary,
    copy_generator_weights,
    stepper_factory,
)
from img2img.tasks.registry import register_task

PHASES = ("psnr", "gan", "both")
PIXEL_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}

# Each a folder of HR images: LR inputs are made from them (any subfolders are read too).
SR_LAYOUTS = {IMAGES: "HR images", CLASS_FOLDERS: "HR images in subfolders"}


@dataclass
class SRGANConfig(
    FlipOptions,
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are the paper's: x4, 96 px HR crops, batch 16, Adam 1e-4, 16 blocks of 64."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """A Wasserstein objective brings its critic constraint (see :func:`merge`)."""
        return objective_presets(values, "vanilla")

    task: str = option("srgan", "which recipe to train")
    data: str = option(
        "", "HR image folder(s), several joined by commas: --data T91,BSD200 (DIR/train if present)"
    )
    image_size: int = option(96, "HR training crop in pixels (a multiple of --scale)")
    batch_size: int = option(16, "images per optimisation step")
    epochs: int = option(1000, "total epochs (one epoch = one crop from every HR image)")
    decay_epochs: int = option(
        0,
        "final epochs of linear LR decay (0: constant; the paper instead lowers the rate "
        "tenfold for the second half of its GAN phase)",
    )
    scale: int = option(4, "upscaling factor: 2, 4 or 8")
    blocks: int = option(16, "residual blocks of the SRResNet")
    ngf: int = WidthOptions.option("ngf", 64, file_names=("channels",))  # SRResNet filters
    bicubic_residual: bool = option(
        False, "add the bicubic upsampling of the input to the output (starts at bicubic)"
    )
    ndf: int = WidthOptions.option("ndf", 64, file_names=("d_channels",))
    phase: str = option("both", "psnr: pixel loss only; gan: GAN fine-tuning; both", PHASES)
    psnr_steps: int = option(0, "--phase both: iterations of the psnr phase (0: half the run)")
    init_from: str = option(
        "",
        "start the generator from this model (a psnr run: directory, .safetensors, name)",
        run=True,
    )
    pixel_loss: str = option("mse", "pixel loss of the psnr phase", tuple(PIXEL_LOSSES))
    perceptual: str = option(
        "inception", "perceptual loss backbone (the paper: vgg19; needs its weights)", BACKBONES
    )
    perceptual_layer: str = option(
        "", "feature layer (vgg19: relu5_4|relu2_2; inception: conv_4...; empty: default)"
    )
    perceptual_weights: str = option("", "VGG19 (or LPIPS trunk) weights file")
    perceptual_weight: float = option(1.0, "weight of the perceptual loss in the gan phase")
    adversarial_weight: float = option(1e-3, "weight of the adversarial loss in the gan phase")
    gan_pixel_weight: float = option(0.0, "weight of the pixel loss in the gan phase")
    objective: str = AdversaryOptions.option("objective", "vanilla")
    lr: float = OptimizerOptions.option("lr", 1e-4)
    beta1: float = OptimizerOptions.option("beta1", 0.9)
    blur_sigma: float = option(0.0, "degradation: Gaussian blur of the HR crop, sigma in px")
    noise: float = option(0.0, "degradation: Gaussian noise on the LR input, std in 8-bit levels")
    jpeg_quality: int = option(0, "degradation: JPEG quality of the LR input (0: off)")
    degradation: str = option(
        "bicubic",
        "how LR inputs are made: bicubic (plus --blur-sigma, --noise, --jpeg-quality), or "
        "second-order (Real-ESRGAN's random blur, resize, noise and JPEG, twice)",
        DEGRADATIONS,
    )
    lr_data: str = option(
        "",
        "LR input folder(s) named like the HR files of --data (0001.png or 0001x4.png), one "
        "per --data folder; '' makes LR inputs from HR by bicubic downscaling",
        run=True,
    )


@register_task("srgan", evaluation="super-resolution", demo_tab="super-resolve")
class SRGAN(StateFromParts):
    """SRResNet / SRGAN over the shared parts (see :mod:`img2img.tasks` for the interface)."""

    counters = ("iteration",)  # saved with the parts (see StateFromParts)

    Config = SRGANConfig

    @staticmethod
    def dataset(
        config: SRGANConfig, split: str, augment: bool | None = None
    ) -> SRImageFolder | None:
        if split == "train":
            for folder in split_folders(config.data):
                require_layout(folder, "srgan", SR_LAYOUTS)
        roots = [resolve_split(root, split) for root in split_folders(config.data)]
        roots = [root for root in roots if root is not None]
        if not roots:
            return None
        lr_roots = []
        if config.lr_data:
            lr_roots = [resolve_split(root, split) for root in split_folders(config.lr_data)]
            if None in lr_roots:
                return None  # LR images for training only: no held-out pairs
        return SRImageFolder(
            roots,
            crop_size=config.image_size,
            scale=config.scale,
            train=split == "train" if augment is None else augment,
            flip=config.flip,
            blur_sigma=config.blur_sigma,
            noise=config.noise,
            jpeg_quality=config.jpeg_quality,
            seed=config.seed,
            lr_roots=lr_roots,
            degradation=config.degradation,
        )

    @staticmethod
    def build_generator(config: SRGANConfig) -> SRResNet:
        return SRResNet(
            scale=config.scale,
            blocks=config.blocks,
            channels=config.ngf,
            bicubic_residual=config.bicubic_residual,
        )

    @staticmethod
    def per_image_statistics(config: SRGANConfig) -> bool:
        return False  # batch 16: the running averages are what the network trained against

    def __init__(
        self, config: SRGANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config).to(device)
        if config.init_from:
            copy_generator_weights(self.generator, config.init_from, ("scale", "blocks", "ngf"))
        discriminator = SRGANDiscriminator(channels=config.ndf).to(device)

        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        self.adversary = config_adversary(config, discriminator, stepper(discriminator))
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.pixel_loss = PIXEL_LOSSES[config.pixel_loss]
        # Built at the start even when the GAN phase comes later: a missing weights file
        # should fail now, not after the PSNR phase.
        self.perceptual = None
        if config.phase != "psnr":
            self.perceptual = PerceptualLoss(
                config.perceptual, config.perceptual_layer, config.perceptual_weights or None
            ).to(device)
        self.psnr_steps = psnr_phase_length(config, total_steps)
        self.iteration = 0

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        lr = batch["input"].to(self.device, non_blocking=True)
        hr = batch["target"].to(self.device, non_blocking=True)
        gan_phase = self.iteration >= self.psnr_steps
        self.iteration += 1
        sr = self.generator(lr)
        pixel = self.pixel_loss(sr, hr)
        logs = {"pixel": pixel.item(), "psnr": batch_psnr(sr, hr)}
        if not gan_phase:
            self.g_stepper.step(pixel)
            return logs
        logs.update(self.adversary.update(real=hr, fake=sr))
        perceptual = self.perceptual(sr, hr)
        adversarial = self.adversary.loss(sr)
        config = self.config
        loss = config.perceptual_weight * perceptual + config.adversarial_weight * adversarial
        if config.gan_pixel_weight:
            loss = loss + config.gan_pixel_weight * pixel
        self.g_stepper.step(loss)
        return {**logs, "perceptual": perceptual.item(), "g_gan": adversarial.item()}

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Columns: bicubic upscaling of the LR input, the network's output, the HR image."""
        lr = batch["input"].to(self.device)
        self.generator.eval()
        sr = self.generator(lr).clamp(-1, 1)
        self.generator.train()
        bicubic = F.interpolate(lr, size=sr.shape[-2:], mode="bicubic", align_corners=False)
        return [bicubic.clamp(-1, 1), sr, batch["target"].to(self.device)]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "psnr_steps": self.psnr_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        # The switch was fixed when the run started: recomputing it from a resumed run's
        # --max-steps could send a run already in its GAN phase back to the pixel loss.
        # (States written before it was saved recompute it.)
        self.psnr_steps = int(state.get("psnr_steps", self.psnr_steps))


def psnr_phase_length(config: SRGANConfig, total_steps: int) -> int:
    """Iterations before the switch to the GAN phase: all of them for ``psnr``, none for
    ``gan``, and for ``both`` ``psnr_steps`` or half of the iterations the run will do."""
    end = min(total_steps, config.max_steps or total_steps)
    if config.phase == "psnr":
        return end
    if config.phase == "gan":
        return 0
    return config.psnr_steps or end // 2


def batch_psnr(sr: torch.Tensor, hr: torch.Tensor) -> float:
    """PSNR (RGB, [0, 1] pixels) of a training batch's mean squared error, for the log: the
    figure the psnr phase raises. Values are in [-1, 1], so the peak-to-peak range is 2."""
    mse = F.mse_loss(sr.detach().clamp(-1, 1), hr).item()
    return 10 * math.log10(4 / max(mse, 1e-12))
