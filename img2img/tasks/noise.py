"""What the recipes that draw images from noise share (``gan``, ``ddgan``, ``progan``).

- Data: an MNIST folder (IDX files), a folder of class sub-folders (labels from the folder
  names), a flat folder of images, or a 2-D mixture ``toy:ring8`` (the GAN lab,
  :mod:`img2img.tasks.lab`); :func:`noise_data_presets` are the defaults each implies.
  :class:`NoiseDataOptions`: ``--stacked`` makes Stacked MNIST of an MNIST folder, ``--flip``
  mirrors images at random; both seeded per item (:mod:`img2img.data.wrappers`).
- Latents: :func:`latent`, fixed latents from a seed (never the global RNG), and
  :func:`generate`, a generator run on them the way it trained (batch statistics).
- :class:`FromNoise`: the recipe parts around the training step (fixed-latent grids, the
  failure-mode watch, its state), so a recipe from noise writes its networks and its step.

Nothing here names a recipe: :mod:`img2img.sampling` and the metrics use it for any model
whose generator draws from noise (:class:`img2img.nets.capabilities.DrawsFromNoise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from img2img.config import OptionGroup, TrainConfig, option
from img2img.data import resolve_split
from img2img.data.classes import ImageFolder, class_names
from img2img.data.mnist import MNIST, is_mnist_folder, mnist_split_files
from img2img.data.toy import ToyDataset, get_mixture, is_toy
from img2img.data.transforms import make_generator
from img2img.data.wrappers import STACKED_MODES, RandomFlip, StackedDigits
from img2img.losses import Adversary
from img2img.nets.batchnorm import batch_statistics
from img2img.nets.capabilities import MixesStyles
from img2img.tasks.options import FlipOptions
from img2img.tasks.parts import StateFromParts
from img2img.watch import GANWatch


@dataclass
class NoiseTrainConfig(TrainConfig):
    """Options every task shares, at the defaults of the GANs from noise (DCGAN's)."""

    data: str = option(
        "", "MNIST folder (IDX files), image folder, class folders, or toy:ring8 / toy:grid25"
    )
    image_size: int = option(64, "image side: base * 2**k, e.g. 28 (MNIST's default), 32, 64")
    batch_size: int = option(64, "samples per iteration")
    epochs: int = option(25, "training epochs")
    decay_epochs: int = option(0, "final epochs over which the LR decays linearly to 0")
    num_samples: int = option(64, "samples in each progress grid (fixed z)")


@dataclass
class WatchOptions(OptionGroup):
    """Watch: warnings of the GAN failure modes (:mod:`img2img.watch`)."""

    watch_patience: int = option(
        200,
        "warn when D's loss stays ~0 this many iterations, and watch diversity after them",
        run=True,
    )
    collapse_ratio: float = option(
        0.25, "warn when sample diversity falls below this x real's", run=True
    )


@dataclass
class NoiseDataOptions(FlipOptions):
    """Data: Stacked MNIST and flips (the real images of a recipe from noise)."""

    flip: bool = FlipOptions.option("flip", False)
    stacked: bool = option(
        False,
        "Stacked MNIST: three random digits of --data (an MNIST folder) in the RGB channels, "
        "1000 modes (the mode-collapse benchmark; img2img eval --metrics modes)",
    )


def noise_data_presets(data: str, stacked: bool = False) -> dict[str, Any]:
    """Defaults implied by the data: MNIST is 28 px, one channel, ten classes (Stacked MNIST
    three channels and 1000 classes, its modes); class sub-folders give the class count.
    Both are folders, so toy points (a name or a CSV file) imply nothing."""
    if data and is_mnist_folder(data):
        if stacked:
            return {"image_size": 28, "channels": 3, "num_classes": STACKED_MODES}
        return {"image_size": 28, "channels": 1, "num_classes": 10}
    if data and (names := class_names(data)):
        return {"num_classes": len(names)}
    return {}


def noise_dataset(config: Any, split: str) -> Dataset | None:
    """The real data of ``config.data`` for ``split`` (None when the split does not exist),
    read at ``config.image_size`` with ``config.channels``: items ``{"image", "label"}``;
    for a config with :class:`NoiseDataOptions`, stacked and (training split) flipped."""
    if is_toy(config.data):
        return ToyDataset(get_mixture(config.data), seed=config.seed + (split == "test"))
    options = config if isinstance(config, NoiseDataOptions) else NoiseDataOptions()
    dataset = _images(config, split, options.stacked)
    if dataset is not None and options.stacked:
        dataset = StackedDigits(dataset, seed=config.seed)
    if dataset is not None and options.flip and split == "train":
        dataset = RandomFlip(dataset, seed=config.seed)
    return dataset


def _images(config: Any, split: str, stacked: bool) -> Dataset | None:
    """The images of ``config.data`` itself (MNIST digits for ``stacked``)."""
    if is_mnist_folder(config.data):
        if stacked and config.channels != 3:
            raise ValueError(
                f"--stacked: Stacked MNIST images have 3 channels, not --channels "
                f"{config.channels}; drop --channels"
            )
        files = mnist_split_files(config.data, split)
        return None if files is None else MNIST(*files, image_size=config.image_size)
    if stacked:
        raise ValueError(
            f"{config.data}: --stacked stacks MNIST digits; give an MNIST folder (IDX files, "
            "img2img data download mnist)"
        )
    root = resolve_split(config.data, split)
    if root is None:
        return None
    return ImageFolder(root, image_size=config.image_size, channels=config.channels)


def latent(n: int, size: int, seed: int) -> Tensor:
    """``n`` fixed latent vectors (n, size) ~ N(0, I) from ``seed`` (not the global RNG)."""
    return torch.randn(n, size, generator=make_generator(seed, 11))


@torch.no_grad()
def generate(
    generator: nn.Module, z: Tensor, labels: Tensor | None = None, truncation: float = 1.0
) -> Tensor:
    """Run ``generator`` on ``z`` (N, latent_size) without touching its training state: batch
    norm uses the batch's statistics (as in training) and leaves its running averages alone.
    ``truncation`` psi < 1 (style generators only) pulls w towards its tracked mean."""
    with batch_statistics(generator):
        if truncation == 1:
            return generator(z, labels)
        if not isinstance(generator, MixesStyles):
            raise ValueError("truncation needs a style generator (--generator style)")
        return generator(z, labels, truncation=truncation)


def gan_watch(adversary: Adversary, options: WatchOptions) -> GANWatch:
    """The failure-mode watch for ``adversary``'s objective with the options' patience."""
    objective = adversary.objective
    return GANWatch(
        objective.bounded_below, objective.saturation, options.watch_patience,
        options.collapse_ratio,
    )  # fmt: skip


class FromNoise(StateFromParts):
    """The parts of a recipe from noise around its step. A subclass builds ``generator``
    and ``adversary``, then calls :meth:`watch_samples`; the fixed latents give the progress
    grids, whose columns are the classes of a conditional model."""

    generator: nn.Module
    adversary: Adversary

    @staticmethod
    def dataset(config: Any, split: str, augment: bool | None = None) -> Dataset | None:
        return noise_dataset(config, split)

    @staticmethod
    def per_image_statistics(config: Any) -> bool:
        """No: a generator from noise is sampled, never translated, and its samples use the
        batch norm's running statistics (the registry asks every task)."""
        return False

    def watch_samples(self, config: Any, num_classes: int = 0) -> None:
        """Fixed latents (and labels cycling through ``num_classes``) for the progress grids,
        and the failure-mode watch (``config``'s :class:`WatchOptions`, when it has them)."""
        size = self.generator.latent_size
        self.z_fixed = latent(max(config.num_samples, 2), size, config.seed).to(self.device)
        self.num_classes = num_classes
        self.labels_fixed = (
            torch.arange(len(self.z_fixed), device=self.device) % num_classes
            if num_classes
            else None
        )
        self.watch = gan_watch(self.adversary, config) if isinstance(config, WatchOptions) else None

    def fixed_samples(self) -> Tensor:
        return generate(self.generator, self.z_fixed, self.labels_fixed)

    def sample(self, batch: dict[str, Any]) -> list[Tensor]:
        """The fixed-latent samples as one grid column (N, C, H, W)."""
        return [self.fixed_samples()]

    def observe(self, real: Tensor, d_loss: float) -> None:
        """Feed the watch one iteration's real batch and D loss."""
        if self.watch is not None:
            self.watch.observe(real, d_loss)

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]:
        """Metrics and failure-mode warnings on the fixed latents (see :mod:`img2img.watch`)."""
        if self.watch is None:
            return {}, {}
        return self.watch.report(self.fixed_samples(), self.adversary.updates)

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None:
        """The fixed-latent grid, one class per column when conditional."""
        from torchvision.utils import save_image

        fake = self.fixed_samples()
        columns = self.num_classes or math.isqrt(len(fake))
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(fake.float().cpu() * 0.5 + 0.5, path, nrow=max(columns, 1), padding=2)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return state if self.watch is None else {**state, **self.watch.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.watch is not None:
            self.watch.load_state_dict(state)
