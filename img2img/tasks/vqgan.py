"""VQGAN (Esser et al., CVPR 2021) and the KL autoencoder of latent diffusion (Rombach et
al., CVPR 2022): an autoencoder trained with a reconstruction, a perceptual and an
adversarial loss, the tokenizers of today's image generators.

One iteration, after taming-transformers' ``VQLPIPSWithDiscriminator``::

    rec  = |x - x_hat|_1 + perceptual_weight * P(x_hat, x)
    G: min  rec + bottleneck loss + disc_weight * lambda * g_loss(D(x_hat))     (from disc_start)
    D: min  0.5 * hinge(D(x), D(x_hat))                                          (from disc_start)

with ``lambda`` the adaptive weight ||grad_L rec|| / (||grad_L g_loss|| + 1e-4) at the
decoder's last layer L, clamped to [0, 1e4] and detached: an option of the Adversary
(``adversary.loss(x_hat, adaptive_to=(rec, last_layer))``), not of this recipe. Before
``--disc-start`` the discriminator is neither trained nor asked (the reference multiplies
both terms by 0 instead; either way its weights do not move). The bottleneck
(``--quantizer``): ``vq`` (codebook + 0.25 * commitment, beta on the encoder side; see
:mod:`img2img.losses.quantization`), ``ema`` (EMA codebook with dead-code restart, commitment
only), ``kl`` or ``none``.

``--quantizer kl`` is latent diffusion's KL autoencoder, by default its ``kl-f8`` config
(``models/first_stage_models/kl-f8``): f = 8, ch 128, ch_mult 1,2,4,4, 2 res blocks, no
attention but the middle block's, a 4-channel latent (embed_dim), KL weight 1e-6,
adversarial weight 0.5 from iteration 50001, batch 4. ``--downsample 4`` gives ``kl-f4``'s
ch_mult 1,2,4 and 3 channels; with ``--preset small`` the sizes stay the preset's and only
the latent width (by f), the attention and the loss weights are the KL config's. Latent
diffusion sums its reconstruction term over an image's pixels where img2img takes the mean,
so its clamp of the adaptive weight at 1e4 becomes 1e4 / (3 H W) here (the same clamp on
the same balance; :mod:`img2img.losses.quantization`).

Defaults follow the reference's configs: f = 16 (ch 128, ch_mult 1,1,2,2,4, 2 res blocks,
attention at the latent resolution), 1024 codes of dim 256, PatchGAN with 3 layers and batch
norm (``NLayerDiscriminator``), hinge loss, disc weight 0.8, disc start 10000, Adam betas
(0.5, 0.9), learning rate 4.5e-6 times the batch size, constant. ``--preset small`` is a CPU
size (32 px, widths 32-64, f = 4, 512 codes of dim 64, batch 16, discriminator width 32 from
iteration 1000, Adam 2e-4) that learns in minutes.

Departures from the reference, on purpose:

- The perceptual loss is LPIPS (VGG trunk) when its weights are on disk, else the early
  Inception-v3 features img2img ships for SRGAN (``--perceptual auto`` resolves to one of
  them when the run starts, and the run's config.json says which).
- The discriminator steps first on the current reconstructions, then the autoencoder (the
  order of every img2img recipe); the reference steps the autoencoder first and recomputes
  the reconstruction for the discriminator, one more forward pass per iteration.
- The KL autoencoder's learned output log-variance (initialised at 0) is fixed at 0 (the
  reference's optimizers leave it out too, so it stays at 0 there as well).
- Images are resized to ``image_size`` squared (no random crop).
- The KL configs' training data (OpenImages, 384 px resized, 256 px crops) is the user's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from img2img.backbones.hub import hub_file
from img2img.backbones.lpips import TRUNK_FILES
from img2img.config import TrainConfig, option
from img2img.data import resolve_split
from img2img.data.autoencoding import ReconstructionFolder
from img2img.losses import objective_presets
from img2img.losses.perceptual import BACKBONES, PerceptualLoss
from img2img.losses.quantization import bottleneck_loss
from img2img.losses.weighting import ADAPTIVE_MAX
from img2img.nets import PatchGAN, init_weights
from img2img.nets.quantizers import QUANTIZERS, code_statistics
from img2img.nets.vqgan import CHANNEL_MULTS, Autoencoder
from img2img.tasks.options import (
    AdversaryOptions,
    DiffAugmentOptions,
    OptimizerOptions,
    WidthOptions,
)
from img2img.tasks.parts import StateFromParts, config_adversary, stepper_factory
from img2img.tasks.registry import register_task

PERCEPTUALS = ("auto", *BACKBONES, "none")
# taming-transformers scales its base learning rate by the batch size (and GPU count).
BASE_LR = 4.5e-6
PRESETS: dict[str, dict[str, Any]] = {
    "": {},
    # A CPU-sized model: 32 px images, widths 32-64, f = 4, 512 codes of dim 64.
    "small": {
        "image_size": 32,
        "batch_size": 16,
        "downsample": 4,
        "ngf": 32,
        "channel_mult": "1,2,2",
        "res_blocks": 1,
        "codebook_size": 512,
        "code_dim": 64,
        "ndf": 32,
        "disc_start": 1000,
        "lr": 2e-4,
    },
}
# Latent diffusion's KL autoencoders (models/first_stage_models/kl-fN/config.yaml) by f:
# the latent width (embed_dim) and the width multipliers.
KL_CONFIGS: dict[int, dict[str, Any]] = {
    4: {"code_dim": 3, "channel_mult": "1,2,4"},
    8: {"code_dim": 4, "channel_mult": "1,2,4,4"},
}
KL_DOWNSAMPLE = 8  # --quantizer kl names kl-f8 unless --downsample or the preset says
# What every KL config shares: no attention outside the middle block, a lighter adversarial
# term; and, at the reference's sizes, its discriminator start and batch.
KL_PRESETS = {"attention": False, "disc_weight": 0.5}
KL_REFERENCE_SCHEDULE = {"disc_start": 50001, "batch_size": 4}


def kl_presets(values: dict[str, Any], preset: dict[str, Any]) -> dict[str, Any]:
    """The KL autoencoder's settings (module docstring) for the f that ``values`` or the
    size ``preset`` give, else 8: kl-f4's or kl-f8's latent width always; its width
    multipliers and schedule only at the reference's sizes (no ``--preset``)."""
    f = values.get("downsample", preset.get("downsample", KL_DOWNSAMPLE))
    config = KL_CONFIGS.get(f, {})
    kl = {**KL_PRESETS, "downsample": f, "code_dim": config.get("code_dim", 4)}
    if not values.get("preset"):
        kl.update(KL_REFERENCE_SCHEDULE, channel_mult=config.get("channel_mult", ""))
    return kl


@dataclass
class VQGANConfig(
    WidthOptions,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    TrainConfig,
):
    """Defaults are taming-transformers' VQGAN (see the module docstring for departures)."""

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """The ``--preset``'s sizes, the KL autoencoder's weights for ``--quantizer kl``, the
        learning rate from the batch size, the perceptual backbone found on this machine and
        the objective's critic constraint, for every field nobody set."""
        preset = dict(PRESETS.get(values.get("preset", ""), {}))  # unknown: validate() says so
        if values.get("quantizer") == "kl":
            preset.update(kl_presets(values, preset))
        batch = values.get("batch_size", preset.get("batch_size", 8))
        preset.setdefault("lr", BASE_LR * batch)
        if values.get("perceptual", "auto") == "auto":
            preset["perceptual"] = available_perceptual()
        return {**objective_presets(values, "hinge"), **preset}

    task: str = option("vqgan", "which recipe to train")
    preset: str = option("", "sizes: '' (the reference's) or small (CPU, 32 px)", tuple(PRESETS))
    image_size: int = option(256, "images are resized to this square size")
    batch_size: int = option(8, "images per optimisation step")
    epochs: int = option(100, "total epochs")
    decay_epochs: int = option(0, "final epochs of linear LR decay (0: constant, the reference)")
    quantizer: str = option("vq", "bottleneck: vq, ema (+ dead-code restart), kl, none", QUANTIZERS)
    downsample: int = option(16, "downsampling factor f: codes are (H/f, W/f)", (4, 8, 16))
    # The encoder and decoder base width (taming's ch), a multiple of 32 (GroupNorm).
    ngf: int = WidthOptions.option("ngf", 128, file_names=("channels",))
    channel_mult: str = option("", "width multipliers per level, e.g. 1,2,4 (empty: by f)")
    res_blocks: int = option(2, "residual blocks per level (the decoder has one more)")
    attention: bool = option(True, "self-attention at the latent resolution (and the middle)")
    dropout: float = option(0.0, "dropout in the residual blocks")
    codebook_size: int = option(1024, "codes in the codebook (vq, ema)")
    code_dim: int = option(256, "width of a code (vq, ema) or of the latent (kl, none)")
    beta: float = option(0.25, "commitment weight (on the encoder side)")
    ema_decay: float = option(0.99, "EMA codebook: decay of the averages")
    restart_threshold: float = option(
        1.0, "EMA codebook: restart codes used fewer times per batch than this (0: never)"
    )
    kl_weight: float = option(1e-6, "KL weight (kl; the reference's per-pixel-sum scale)")
    pixel_weight: float = option(1.0, "weight of the L1 reconstruction loss")
    perceptual: str = option(
        "auto", "perceptual loss: lpips (VGG, where its weights are), inception, ...", PERCEPTUALS
    )
    perceptual_layer: str = option("", "feature layer (empty: the backbone's default)")
    perceptual_weights: str = option("", "VGG19 (or LPIPS trunk) weights file")
    perceptual_weight: float = option(1.0, "weight of the perceptual loss")
    disc_weight: float = option(0.8, "weight of the adversarial term (times the adaptive weight)")
    disc_start: int = option(10000, "iteration at which the discriminator starts to train, count")
    adaptive: bool = option(True, "scale the adversarial term by VQGAN's adaptive weight")
    objective: str = AdversaryOptions.option("objective", "hinge")
    ndf: int = WidthOptions.option("ndf", 64, file_names=("d_channels",))
    d_layers: int = option(3, "PatchGAN strided layers (3: 70x70 patches)")
    lr: float = OptimizerOptions.option("lr", BASE_LR * 8)  # presets: 4.5e-6 x batch
    beta2: float = OptimizerOptions.option("beta2", 0.9)


def available_perceptual() -> str:
    """ "lpips" when LPIPS's VGG trunk weights are already in the torch hub cache, else
    "inception" (the network img2img can always load): the reference's perceptual loss where
    it is present. Only looks: choosing a default never starts a download."""
    return "lpips" if hub_file(TRUNK_FILES["vgg"]).is_file() else "inception"


def channel_mult(config: VQGANConfig) -> tuple[int, ...]:
    """The width multipliers: ``--channel-mult`` or the reference's for ``--downsample``;
    their count must give the downsampling factor."""
    if not config.channel_mult:
        return CHANNEL_MULTS[config.downsample]
    try:
        mult = tuple(int(m) for m in config.channel_mult.split(","))
    except ValueError:
        raise ValueError(
            f"--channel-mult {config.channel_mult!r}: give integers like 1,2,4"
        ) from None
    if 2 ** (len(mult) - 1) != config.downsample:
        raise ValueError(
            f"--channel-mult {config.channel_mult} has {len(mult)} levels, a downsampling "
            f"factor of {2 ** (len(mult) - 1)}, not --downsample {config.downsample}; give "
            f"log2(f) + 1 = {int(math.log2(config.downsample)) + 1} multipliers"
        )
    return mult


@register_task("vqgan", evaluation="autoencoder", demo_tab="autoencode")
class VQGAN(StateFromParts):
    """The VQGAN / KL-autoencoder recipe (see :mod:`img2img.tasks` for the interface)."""

    counters = ("iteration",)  # saved with the parts (see StateFromParts)

    Config = VQGANConfig

    @staticmethod
    def dataset(
        config: VQGANConfig, split: str, augment: bool | None = None
    ) -> ReconstructionFolder | None:
        root = resolve_split(config.data, split)
        return None if root is None else ReconstructionFolder(root, config.image_size)

    @staticmethod
    def build_generator(config: VQGANConfig) -> Autoencoder:
        return Autoencoder(
            channels=config.ngf,
            channel_mult=channel_mult(config),
            res_blocks=config.res_blocks,
            code_dim=config.code_dim,
            quantizer=config.quantizer,
            codebook_size=config.codebook_size,
            attention=config.attention,
            dropout=config.dropout,
            ema_decay=config.ema_decay,
            restart_threshold=config.restart_threshold,
        )

    @staticmethod
    def per_image_statistics(config: VQGANConfig) -> bool:
        return False  # GroupNorm: no batch statistics

    def __init__(
        self, config: VQGANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self.generator = self.build_generator(config).to(device)
        # taming's NLayerDiscriminator: the pix2pix PatchGAN with batch norm, N(0, 0.02).
        discriminator = PatchGAN(
            in_channels=3, ndf=config.ndf, n_layers=config.d_layers, norm="batch"
        ).to(device)
        init_weights(discriminator, kind="normal", gain=0.02)
        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        # The reference halves the hinge loss of its discriminator.
        self.adversary = config_adversary(
            config, discriminator, stepper(discriminator), d_loss_weight=0.5
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        perceptual = available_perceptual() if config.perceptual == "auto" else config.perceptual
        layer = config.perceptual_layer or ("vgg" if perceptual == "lpips" else "")
        self.perceptual = None
        if perceptual != "none" and config.perceptual_weight:
            self.perceptual = PerceptualLoss(
                perceptual, layer, config.perceptual_weights or None
            ).to(device)
        self.iteration = 0

    def adaptive_max(self, image_elements: int) -> float:
        """The clamp of the adaptive weight: taming's 1e4 on a mean reconstruction loss;
        latent diffusion's 1e4 is on a loss summed over an image's ``image_elements``
        (3 H W) values, which img2img's mean divides by them (module docstring)."""
        if self.config.quantizer != "kl":
            return ADAPTIVE_MAX
        return ADAPTIVE_MAX / image_elements

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        config = self.config
        self.generator.train()
        x = batch["input"].to(self.device, non_blocking=True)
        gan_on = self.iteration >= config.disc_start
        self.iteration += 1
        recon, neck = self.generator.autoencode(x)
        logs: dict[str, float] = {}
        if gan_on:
            logs.update(self.adversary.update(real=x, fake=recon))
        pixel = F.l1_loss(recon, x)
        rec = config.pixel_weight * pixel
        logs["l1"] = pixel.item()
        if self.perceptual is not None:
            perceptual = self.perceptual(recon, x)
            rec = rec + config.perceptual_weight * perceptual
            logs["perceptual"] = perceptual.item()
        neck_loss, neck_logs = bottleneck_loss(neck, x[0].numel(), config.beta, config.kl_weight)
        loss = rec + neck_loss
        logs.update(neck_logs)
        if neck.codes is not None:
            logs["usage"], logs["perplexity"] = code_statistics(neck.codes, config.codebook_size)
        if gan_on:
            last = (rec, self.generator.last_layer) if config.adaptive else None
            clamp = self.adaptive_max(x[0].numel())
            g_gan = self.adversary.loss(recon, adaptive_to=last, adaptive_max=clamp)
            loss = loss + config.disc_weight * g_gan
            logs["g_gan"] = g_gan.item()
            if config.adaptive:
                logs["adaptive_weight"] = float(self.adversary.last_adaptive_weight)
        self.g_stepper.step(loss)
        return logs

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Columns: the image, its reconstruction."""
        x = batch["input"].to(self.device)
        self.generator.eval()
        recon = self.generator(x).clamp(-1, 1)
        self.generator.train()
        return [x, recon]
