"""2-D toy distributions for the GAN lab: mixtures of Gaussians whose modes are known, so
mode collapse can be counted instead of eyeballed.

- ``ring8``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.05 (the ring of Metz
  et al. 2017, unrolled GANs, and Srivastava et al. 2017, VEEGAN, whose std is 0.02).
- ``grid25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN).
- a CSV file of 2-D points (``--data points.csv``: ``x,y`` rows, a header line allowed):
  a Gaussian of std :data:`POINTS_STD` around every point, so the points are the modes
  (the GAN lab's drawn and uploaded targets; GAN Lab blurs drawn points the same way).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from img2img.checkpoint import atomic_write
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
# A CSV target's std around each point: the built-in mixtures' (points live in the same
# plane, roughly [-4, 4]^2).
POINTS_STD = 0.05


def is_toy(data: str) -> bool:
    """Whether ``data`` names 2-D points: a built-in mixture ``toy:NAME`` or a CSV file."""
    return str(data).startswith(TOY_PREFIX) or str(data).lower().endswith(".csv")


def get_mixture(data: str) -> Mixture:
    """The mixture named by ``toy:NAME``, or the points of a CSV file as one (see
    :func:`read_points`); an unknown name lists the valid ones."""
    if not str(data).startswith(TOY_PREFIX):
        path = Path(data)
        return Mixture(path.stem, read_points(path), POINTS_STD)
    name = str(data).removeprefix(TOY_PREFIX)
    if name not in MIXTURES:
        valid = ", ".join(TOY_PREFIX + n for n in MIXTURES)
        raise ValueError(f"unknown toy data set {data!r}; choose one of {valid} or a CSV file")
    return MIXTURES[name]


def parse_points(text: str, name: str = "points") -> Tensor:
    """2-D points (n, 2) from CSV text: one ``x,y`` row per point (more columns are an
    error), blank lines skipped, a first row that is not two numbers taken as a header.
    Errors name ``name`` and the line."""
    points: list[tuple[float, float]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        try:
            x, y = (float(cell) for cell in cells)
        except ValueError:
            if number == 1 and len(cells) == 2:
                continue  # a header such as "x,y"
            raise ValueError(
                f"{name}, line {number}: expected two numbers x,y, got {','.join(cells)!r}"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"{name}, line {number}: the coordinates must be finite")
        points.append((x, y))
    if not points:
        raise ValueError(f"{name}: no points (expected x,y rows)")
    return torch.tensor(points, dtype=torch.float32)


def read_points(path: str | Path) -> Tensor:
    """The points (n, 2) of a CSV file (see :func:`parse_points`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the points file ({err})") from None
    return parse_points(text, str(path))


def write_points(path: str | Path, points: Tensor) -> None:
    """Write ``points`` (n, 2) as a CSV file with an ``x,y`` header, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["x", "y"])
            writer.writerows([f"{x:.6g}", f"{y:.6g}"] for x, y in points.tolist())

    atomic_write(Path(path), write)


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


def js_divergence(
    samples: Tensor, mixture: Mixture, bins: int = 32, reference: int = 10_000
) -> float:
    """An estimate of the Jensen-Shannon divergence, in bits (0: the same, 1: disjoint),
    between ``samples`` (n, 2) and the mixture: the two histograms over a ``bins`` x
    ``bins`` grid on the modes' bounding box (widened by max(1, 6 std)), with one more bin
    for everything outside it, the mixture's from a fixed draw of ``reference`` points.
    Finite samples of the mixture itself score above 0 (about 0.02 for 1,000 samples)."""
    real = mixture.sample(reference, make_generator(0, 5))[0]
    margin = max(1.0, 6 * mixture.std)
    low, high = mixture.modes.min(0).values - margin, mixture.modes.max(0).values + margin

    def histogram(points: Tensor) -> Tensor:
        cells = ((points.float() - low) / (high - low) * bins).floor().long()
        inside = ((cells >= 0) & (cells < bins)).all(dim=1)
        index = torch.where(inside, cells[:, 1] * bins + cells[:, 0], bins * bins)
        counts = torch.bincount(index, minlength=bins * bins + 1).double()
        return counts / counts.sum()

    p, q = histogram(samples), histogram(real)
    m = (p + q) / 2

    def kl(a: Tensor) -> Tensor:
        used = a > 0
        return (a[used] * (a[used] / m[used]).log2()).sum()

    return float((kl(p) + kl(q)) / 2)
