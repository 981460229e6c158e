"""Progressive growing of GANs (Karras et al. 2018), on the same Adversary and Trainer as
every other recipe.

Training starts at 4x4 and doubles the resolution phase by phase up to ``--image-size``.
Each phase shows ``--images-per-phase`` real images: the first half at a stable
resolution, the second half fading the next level in (its new G and D blocks *and* the real
images, which are cross-faded between the two resolutions exactly as the reference's
``process_reals`` does). The level of detail ``lod`` follows the reference's
``TrainingSchedule`` (:func:`lod_at`) as a function of the real images shown so far, and
reaches both networks as module state (their ``lod`` buffer, see
:mod:`img2img.nets.progan`), so the Adversary, its gradient penalty and the Trainer's EMA
need nothing special, and a saved generator carries the resolution it reached.

Defaults are the reference's (tkarras/progressive_growing_of_gans, config.py with the
preset-v2-1gpu schedule): WGAN-GP (lambda 10) with the drift penalty 0.001 on real scores
(the Adversary's ``drift_weight``), one critic step per generator step, Adam lr 0.001
betas (0, 0.99), per-resolution batch sizes ``4:128,8:128,16:128,32:64,...``, Adam's state
reset whenever a fade-in starts or ends, an EMA of G with decay 0.999, widths
``fmap_base`` 8192 / ``fmap_max`` 512 and a 512-d latent.

Departures from the reference, all deliberate:
- ``--images-per-phase`` defaults to 40,000 (20k stable + 20k fade) instead of 1.2 million
  (600k + 600k): a phase of the reference takes hours on a CPU.
- The Trainer's loader delivers ``--batch-size`` images per iteration (set to the largest
  per-resolution batch by default); an iteration uses the first ``batch_for(resolution)`` of
  them, so an "epoch" of the Trainer is a count of loader batches, not of images trained on.
- The EMA of G ramps up (``--ema-rampup 0.05``, StyleGAN2's rule): the reference's 0.999
  a step, a half-life of 693 steps, is 7% of one of its 9,000-step phases, but two or more
  whole phases of a short schedule, so without the ramp-up the average of a laptop run still
  holds the newest level's untrained weights when it is sampled (measured: 0.0% of samples
  read from the average, 55% from the raw generator, at the same iteration). From about
  14,000 iterations on the two agree.
- The schedule moves every iteration (the reference holds it for 4 minibatches,
  ``minibatch_repeats``); the generator's step reuses the D step's fake batch (as the
  GAN recipe does) instead of drawing new latents.
- No mirror augmentation by default (the reference's default is off too; ``--flip``), no
  AC-GAN label head.
- MNIST's 28 px digits are resized to 32 px by the MNIST loader (bilinear); the
  reference's dataset tool pads them with 2 black pixels a side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from img2img.config import TrainConfig, option
from img2img.data.mnist import is_mnist_folder
from img2img.data.toy import is_toy
from img2img.losses import objective_presets
from img2img.nets.progan import (
    ProGANDiscriminator,
    ProGANGenerator,
    downscale,
    feature_maps,
    level_and_alpha,
    levels_for,
    upscale,
)
from img2img.reporting import save_captioned_grid
from img2img.tasks.noise import FromNoise, NoiseDataOptions, noise_dataset
from img2img.tasks.options import (
    AdversaryOptions,
    DiffAugmentOptions,
    ImageChannels,
    OptimizerOptions,
)
from img2img.tasks.parts import config_adversary, stepper_factory
from img2img.tasks.registry import register_task
from img2img.watch import check_losses

# The reference's preset-v2-1gpu minibatch_dict; other resolutions take minibatch_base 4.
REFERENCE_BATCH_SIZES = "4:128,8:128,16:128,32:64,64:32,128:16,256:8,512:4"


def parse_batch_sizes(text: str) -> dict[int, int]:
    """``"4:128,8:64"`` -> ``{4: 128, 8: 64}``; a malformed entry names itself."""
    sizes: dict[int, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        try:
            resolution, batch = (int(value) for value in entry.split(":"))
        except ValueError:
            raise ValueError(
                f"--batch-sizes: {entry!r} is not resolution:batch (e.g. 4:128,8:128,32:64)"
            ) from None
        if batch < 1:
            raise ValueError(f"--batch-sizes: {entry!r}: the batch must be positive")
        sizes[resolution] = batch
    return sizes


@dataclass
class ProGANConfig(
    ImageChannels,
    OptimizerOptions,
    DiffAugmentOptions,
    AdversaryOptions,
    NoiseDataOptions,
    TrainConfig,
):
    """Defaults are the reference code's, except where the module docstring says."""

    task: str = option("progan", "which recipe to train")
    data: str = option("", "MNIST folder (IDX files), image folder or class folders")
    image_size: int = option(32, "final image side, a power of two >= 4 (MNIST is resized)")
    batch_size: int = option(0, "images the loader delivers per iteration (0: the largest used)")
    batch_sizes: str = option(REFERENCE_BATCH_SIZES, "batch per resolution, res:batch,...")
    batch_base: int = option(4, "batch at resolutions --batch-sizes does not list")
    epochs: int = option(1000, "loader epochs (stop earlier with --max-steps)")
    decay_epochs: int = option(0, "final epochs over which the LR decays to 0 (reference: none)")
    num_samples: int = option(64, "samples in each progress grid (fixed z)")
    images_per_phase: int = option(
        40_000, "real images per resolution: half stable, half fading the next in (ref. 1.2M)"
    )
    z_dim: int = option(512, "latent size; z ~ N(0, I), pixel-normalised")
    fmap_base: int = option(8192, "width multiplier: level k has min(base / 2**(k+1), max)")
    fmap_max: int = option(512, "widest layer")
    group_size: int = option(4, "minibatch-stddev group size (0: no stddev channel)")
    lr: float = OptimizerOptions.option("lr", 1e-3)
    beta1: float = OptimizerOptions.option("beta1", 0.0)
    beta2: float = OptimizerOptions.option("beta2", 0.99)
    objective: str = AdversaryOptions.option("objective", "wgan-gp")
    drift_weight: float = option(1e-3, "weight of E[D(x)^2] on real scores (epsilon_drift)")
    reset_optimizer: bool = option(True, "reset Adam's state when a fade-in starts or ends")
    ema: float = option(0.999, "EMA of the generator weights (the reference's G_smoothing)")
    ema_rampup: float = option(
        0.05, "EMA ramp-up: half-life at most this fraction of the iterations so far (ref.: none)"
    )

    @staticmethod
    def presets(values: dict[str, Any]) -> dict[str, Any]:
        """The objective's critic constraint (WGAN-GP: penalty 10); MNIST: one channel (Stacked
        MNIST: three); the
        loader batch: the largest batch the schedule uses."""
        data = str(values.get("data", ""))
        found: dict[str, Any] = objective_presets(values, "wgan-gp")
        if data and not is_toy(data) and is_mnist_folder(data):
            found["channels"] = 3 if values.get("stacked") else 1
        size = int(values.get("image_size", 32))
        if size >= 4 and not size & (size - 1):
            sizes = parse_batch_sizes(str(values.get("batch_sizes", REFERENCE_BATCH_SIZES)))
            base = int(values.get("batch_base", 4))
            found["batch_size"] = max(
                sizes.get(4 * 2**level, base) for level in range(levels_for(size) + 1)
            )
        return found


def lod_at(images: int, top: int, images_per_phase: int) -> float:
    """The level of detail after ``images`` real images (the reference's
    ``TrainingSchedule`` from 4x4, with lod_training_kimg = lod_transition_kimg = half a
    phase): ``top`` at 4x4, down by one per phase, fractional during each phase's second
    half (the fade-in), 0 at the image size."""
    half = images_per_phase / 2
    phase, within = divmod(images, images_per_phase)
    lod = top - phase - max(within - half, 0) / half
    return max(lod, 0.0)


def fade_reals(images: Tensor, lod: float) -> Tensor:
    """Real images as the networks see them at ``lod`` (the reference's ``process_reals``):
    box-downsampled to the current level, cross-faded with their next-coarser version by
    ``frac(lod)`` during a fade-in, then upsampled back to full size by nearest neighbour."""
    below = math.floor(lod)
    x = downscale(images, 2**below)
    if lod > below:
        x = torch.lerp(x, upscale(downscale(x, 2), 2), lod - below)
    return upscale(x, 2**below)


class Growth:
    """Where growing stands: real images shown so far and the (floor, ceil) of the last
    level of detail, whose change resets the optimizers. Saved with the run, so a resumed
    run continues mid-phase at the very same ``lod``."""

    def __init__(self, top: int, images_per_phase: int) -> None:
        if images_per_phase < 2:
            raise ValueError(f"--images-per-phase must be at least 2, got {images_per_phase}")
        self.top = top
        self.images_per_phase = images_per_phase
        self.images = 0
        self.stage: tuple[int, int] | None = None

    @property
    def lod(self) -> float:
        return lod_at(self.images, self.top, self.images_per_phase)

    def enter(self) -> bool:
        """Note the current lod; True when it starts or ends a fade-in (a new stage)."""
        lod = self.lod
        stage = (math.floor(lod), math.ceil(lod))
        changed = stage != self.stage
        self.stage = stage
        return changed

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images, "stage": self.stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = int(state["images"])
        self.stage = None if state["stage"] is None else tuple(state["stage"])


@register_task(
    "progan",
    evaluation="samples",
    demo_tab="sample",
    pipeline_tag="unconditional-image-generation",
)
class ProGAN(FromNoise):
    """The progressive-growing recipe (see :mod:`img2img.tasks` for the interface)."""

    Config = ProGANConfig

    @staticmethod
    def dataset(config: ProGANConfig, split: str, augment: bool | None = None) -> Dataset | None:
        if is_toy(config.data):
            raise ValueError(f"{config.data}: progressive growing needs images; use --task gan")
        return noise_dataset(config, split)

    @staticmethod
    def build_generator(config: ProGANConfig) -> ProGANGenerator:
        return ProGANGenerator(
            z_dim=config.z_dim,
            image_size=config.image_size,
            channels=config.channels,
            fmap_base=config.fmap_base,
            fmap_max=config.fmap_max,
        )

    def __init__(
        self, config: ProGANConfig, total_steps: int, decay_steps: int, device: torch.device
    ) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # DDP would wait for gradients of the levels not grown yet.
            raise ValueError("--task progan trains in one process; run it without torchrun")
        self.config = config
        self.device = device
        top = levels_for(config.image_size)
        self.batch_sizes = parse_batch_sizes(config.batch_sizes)
        largest = max(self.batch_for(4 * 2**level) for level in range(top + 1))
        if config.batch_size < largest:
            raise ValueError(
                f"--batch-size {config.batch_size} is smaller than the largest per-resolution "
                f"batch ({largest}, from --batch-sizes / --batch-base); give --batch-size "
                f"{largest} or leave it at 0"
            )
        if feature_maps(top + 1, config.fmap_base, config.fmap_max) < 1:
            raise ValueError(f"--fmap-base {config.fmap_base} is too small for {top} levels")
        self.generator = ProGAN.build_generator(config).to(device)
        discriminator = ProGANDiscriminator(
            image_size=config.image_size,
            channels=config.channels,
            fmap_base=config.fmap_base,
            fmap_max=config.fmap_max,
            group_size=config.group_size,
        ).to(device)
        stepper = stepper_factory(config, total_steps, decay_steps)
        self.g_stepper = stepper(self.generator)
        self.adversary = config_adversary(
            config, discriminator, stepper(discriminator), drift_weight=config.drift_weight
        )
        self.steppers = {"generator": self.g_stepper, "discriminator": self.adversary.stepper}
        self.growth = Growth(top, config.images_per_phase)
        self.watch_samples(config)

    def batch_for(self, resolution: int) -> int:
        """The batch of a resolution (--batch-sizes, else --batch-base)."""
        return self.batch_sizes.get(resolution, self.config.batch_base)

    def _grow(self) -> float:
        """Set both networks to the schedule's lod; reset Adam on a new stage."""
        if self.growth.enter() and self.config.reset_optimizer:
            for stepper in self.steppers.values():
                stepper.reset_state()
        lod = self.growth.lod
        self.generator.set_lod(lod)
        self.adversary.discriminator.set_lod(lod)
        return lod

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.generator.train()
        lod = self._grow()
        level = level_and_alpha(lod, self.growth.top)[0]
        n = self.batch_for(4 * 2**level)
        real = fade_reals(batch["image"][:n].to(self.device, non_blocking=True), lod)
        fake = self.generator(torch.randn(n, self.config.z_dim, device=self.device))
        logs = self.adversary.update(real, fake)
        check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
        if self.adversary.generator_turn():
            g_loss = self.adversary.loss(fake)
            logs["g_loss"] = g_loss.item()
            check_losses(logs, skip_nonfinite=self.config.skip_nonfinite)
            self.g_stepper.step(g_loss)
        self.growth.images += n
        return {**logs, "lod": lod}

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]:
        """The resolution and fade-in weight, for the progress bar and the log."""
        alpha = self.generator.level_alpha[1]
        return {"resolution": float(self.generator.resolution), "alpha": alpha}, {}

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None:
        """The fixed-z grid under a caption: the iteration, resolution and alpha."""
        fake = self.fixed_samples()
        caption = f"iteration {step}: {self.generator.growth()}"
        save_captioned_grid(fake, path, math.isqrt(len(fake)), caption)

    def state_parts(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "adversary": self.adversary,
            "g_optimizer": self.g_stepper,
            "growth": self.growth,
        }
