"""Hole masks for inpainting: (1, S, S) float tensors, 1 inside the hole, 0 outside.

Every random mask is a pure function of a ``torch.Generator`` (seeded by the dataset from
(seed, epoch, index), see :func:`mask_for`), so a resumed run draws the same holes.

- ``center``: the centre square of half the side, less an ``overlap`` band on each side
  (the reference code's layout: at 128 px a 56 px hole inside the 64 px square that the
  network predicts and the discriminator sees, the 4 px band being given context).
- ``random-region``: smooth noise thresholded into blobs covering 20-30% of the image (the
  reference's random region; it rejection-samples crops of one noise pattern thresholded
  at a fixed level until the area lands in that range, here the threshold is the noise's
  quantile at a coverage drawn uniformly from the range, so no retries are needed).
- ``random-blocks``: 1-4 axis-aligned rectangles, each side 1/8 to 1/2 of the image's.
- ``free-form``: 1-4 thick brush strokes, random walks of 4-10 segments (the free-form
  masks of later inpainting work, e.g. Yu et al.'s DeepFill v2).
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import Tensor

from img2img.data.transforms import make_generator
from img2img.images import ImageError, load_image

MASKS = ("center", "random-region", "random-blocks", "free-form")
RANDOM_REGION_COVERAGE = (0.2, 0.3)
NOISE_CELLS = 0.06
"""The reference's random-region noise resolution: one random value per 1/0.06 ~ 17 px."""
MASK_STREAM = 1
"""Extra generator key, so masks draw from their own stream, independent of the crops."""


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def _integer(generator: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def center_box(size: int) -> tuple[int, int]:
    """(start, end) of the centre square of half the side, the predicted region."""
    if size % 4:
        raise ValueError(f"image_size={size}: the centre mask needs a multiple of 4")
    return size // 4, size // 4 + size // 2


def center_mask(size: int, overlap: int = 0) -> Tensor:
    start, end = center_box(size)
    if 2 * overlap >= end - start:
        raise ValueError(f"overlap={overlap} leaves no hole in a {end - start} px centre square")
    mask = torch.zeros(1, size, size)
    mask[:, start + overlap : end - overlap, start + overlap : end - overlap] = 1
    return mask


def random_region_mask(size: int, generator: torch.Generator) -> Tensor:
    cells = max(2, math.ceil(size * NOISE_CELLS)) + 1
    noise = torch.rand(1, 1, cells, cells, generator=generator)
    smooth = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)[0]
    coverage = _uniform(generator, *RANDOM_REGION_COVERAGE)
    threshold = torch.quantile(smooth.flatten(), coverage)
    return (smooth <= threshold).float()


def random_blocks_mask(size: int, generator: torch.Generator) -> Tensor:
    mask = torch.zeros(1, size, size)
    for _ in range(_integer(generator, 1, 4)):
        height = _integer(generator, max(1, size // 8), size // 2)
        width = _integer(generator, max(1, size // 8), size // 2)
        top = _integer(generator, 0, size - height)
        left = _integer(generator, 0, size - width)
        mask[:, top : top + height, left : left + width] = 1
    return mask


def free_form_mask(size: int, generator: torch.Generator) -> Tensor:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(_integer(generator, 1, 4)):
        width = _integer(generator, max(1, size // 16), max(1, size // 8))
        x, y = _uniform(generator, 0, size), _uniform(generator, 0, size)
        for _ in range(_integer(generator, 4, 10)):
            angle = _uniform(generator, 0, 2 * math.pi)
            length = _uniform(generator, size / 16, size / 4)
            nx = min(max(x + length * math.cos(angle), 0), size - 1)
            ny = min(max(y + length * math.sin(angle), 0), size - 1)
            draw.line([(x, y), (nx, ny)], fill=255, width=width)
            r = width / 2
            draw.ellipse([nx - r, ny - r, nx + r, ny + r], fill=255)
            x, y = nx, ny
    return torch.from_numpy(np.asarray(canvas) > 127).float()[None]


def make_mask(kind: str, size: int, generator: torch.Generator, overlap: int = 0) -> Tensor:
    """A ``kind`` mask (see :data:`MASKS`) of ``size`` x ``size``; ``overlap`` shapes only
    the centre mask."""
    if kind == "center":
        return center_mask(size, overlap)
    if kind == "random-region":
        return random_region_mask(size, generator)
    if kind == "random-blocks":
        return random_blocks_mask(size, generator)
    if kind == "free-form":
        return free_form_mask(size, generator)
    raise ValueError(f"unknown mask {kind!r}; choose one of {', '.join(MASKS)}")


def mask_for(kind: str, size: int, seed: int, epoch: int, index: int, overlap: int = 0) -> Tensor:
    """The mask of item ``index`` in ``epoch`` of a run seeded ``seed``: the same on every
    call, so batches after a resume equal the uninterrupted run's."""
    return make_mask(kind, size, make_generator(seed, epoch, index, MASK_STREAM), overlap)


def overlap_band(mask: Tensor, overlap: int) -> Tensor:
    """The ring of pixels outside the hole within ``overlap`` px of it (square
    neighbourhood): known context the network still predicts, so its fill continues the
    border smoothly (the reference weights its L2 there 10x). ``mask``: (..., H, W)."""
    if overlap == 0:
        return torch.zeros_like(mask)
    batch = mask.reshape(-1, 1, *mask.shape[-2:])
    grown = F.max_pool2d(batch, 2 * overlap + 1, stride=1, padding=overlap)
    return (grown.reshape(mask.shape) - mask).clamp_(min=0)


def read_mask(mask: Any, size: tuple[int, int]) -> Tensor:
    """A user's mask as a (1, 1, H, W) float tensor (1 = hole) for an image of ``size`` =
    (H, W): a file path, PIL image, numpy array or tensor; white (> 127, or > 0.5 for a
    float tensor) is the hole. A mask of another size is resized with nearest neighbour
    and a warning says so. Raises :class:`ImageError` naming the file (``"the mask"`` when
    it is not a file) for an unreadable file, a mask with no hole and an all-hole mask,
    which would leave no context to fill it from.
    """
    name = str(mask) if isinstance(mask, (str, os.PathLike)) else "the mask"
    hole = _hole_pixels(mask)
    if hole.shape != size:
        warnings.warn(
            f"{name}: mask is {hole.shape[1]}x{hole.shape[0]}, the image "
            f"{size[1]}x{size[0]}; resized with nearest neighbour",
            stacklevel=2,
        )
        hole = F.interpolate(hole[None, None].float(), size=size, mode="nearest")[0, 0] > 0.5
    if not hole.any():
        raise ImageError(name, "the mask has no hole: paint the region to fill in white")
    if hole.all():
        raise ImageError(name, "the mask is all hole: leave some of the image black (kept)")
    return hole[None, None].float()


def _hole_pixels(mask: Any) -> Tensor:
    """(H, W) bool of the hole in any supported mask kind."""
    if isinstance(mask, (str, os.PathLike)):
        mask = load_image(mask)
    if isinstance(mask, Image.Image):
        return torch.from_numpy(np.asarray(mask.convert("L")) > 127)
    if isinstance(mask, np.ndarray):
        values = mask if mask.ndim == 2 else mask.max(axis=2)
        limit = 127 if values.dtype == np.uint8 else 0.5
        return torch.from_numpy(np.asarray(values > limit))
    if isinstance(mask, Tensor):
        if mask.ndim not in (2, 3, 4) or (
            mask.ndim > 2 and mask.numel() != mask.shape[-2:].numel()
        ):
            raise ValueError(
                f"mask tensor of shape {tuple(mask.shape)}: expected (H, W) or (1, 1, H, W)"
            )
        limit = 127 if mask.dtype == torch.uint8 else 0.5
        return mask.reshape(mask.shape[-2:]).cpu() > limit
    raise TypeError(
        f"cannot use a {type(mask).__name__} as a mask: pass a file path, a PIL image, "
        "a numpy array (H, W) or a tensor (H, W)"
    )
