"""2-D toy distributions for the GAN lab: mixtures of Gaussians whose modes are known, so
mode collapse can be counted instead of eyeballed.

- ``ring8``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (Metz et al. 2017,
  unrolled GANs; Srivastava et al. 2017, VEEGAN).
- ``grid25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.transforms import make_generator


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians: ``modes`` (K, 2) and their std."""

    name: str
    modes: Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` points (n, 2) and the index (n,) of the mode each was drawn from."""
        labels = torch.randint(len(self.modes), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * self.std
        return self.modes[labels] + noise, labels


def _ring(count: int = 8, radius: float = 2.0) -> Tensor:
    angles = torch.arange(count) * (2 * math.pi / count)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], dim=1)


def _grid(side: int = 5, spacing: float = 2.0) -> Tensor:
    ticks = (torch.arange(side) - (side - 1) / 2) * spacing
    ys, xs = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


MIXTURES: dict[str, Mixture] = {
    "ring8": Mixture("ring8", _ring(), 0.05),
    "grid25": Mixture("grid25", _grid(), 0.05),
}
TOY_PREFIX = "toy:"


def is_toy(data: str) -> bool:
    return str(data).startswith(TOY_PREFIX)


def get_mixture(data: str) -> Mixture:
    """The mixture named by ``toy:NAME``; an unknown name lists the valid ones."""
    name = str(data).removeprefix(TOY_PREFIX)
    if name not in MIXTURES:
        valid = ", ".join(TOY_PREFIX + n for n in MIXTURES)
        raise ValueError(f"unknown toy data set {data!r}; choose one of {valid}")
    return MIXTURES[name]


class ToyDataset(Dataset):
    """``size`` points drawn once from a :class:`Mixture` with ``seed``: items are
    ``{"image": (2,) point, "label": mode index, "skipped": 0}`` ("image" so that recipes
    read every data set under one key)."""

    def __init__(self, mixture: Mixture, size: int = 10_000, seed: int = 0) -> None:
        self.mixture = mixture
        self.points, self.labels = mixture.sample(size, make_generator(seed, 2))

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        return {"image": self.points[index], "label": int(self.labels[index]), "skipped": 0}


def mode_coverage(samples: Tensor, mixture: Mixture, min_share: float = 0.2) -> dict[str, float]:
    """How many modes ``samples`` (n, 2) capture, and how many samples are good.

    A sample is *high quality* when it lies within 3 std of its nearest mode (VEEGAN's
    criterion). A mode counts as *captured* when it receives at least ``min_share`` of its
    fair share (n / K) of high-quality samples, so a handful of stray points does not count
    as covering a mode. Returns ``{"modes": captured count, "high_quality": share in [0, 1]}``.
    """
    distances = torch.cdist(samples.float(), mixture.modes)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= 3 * mixture.std
    counts = torch.bincount(nearest[good], minlength=len(mixture.modes))
    fair_share = len(samples) / len(mixture.modes)
    return {
        "modes": float((counts >= min_share * fair_share).sum()),
        "high_quality": float(good.float().mean()),
    }
