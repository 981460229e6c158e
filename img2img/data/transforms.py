"""Geometric augmentations as small pure functions with explicit randomness.

A paired dataset must crop and flip its input and target identically, and a resumed
run must see the same crops as an uninterrupted one. So randomness is drawn once into
a :class:`CropFlip` from a generator the caller seeds (never the global RNG) and then
applied, unchanged, to every image of the pair (or of an SR high/low-res pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from img2img.config import option

ImageT = TypeVar("ImageT", Image.Image, Tensor)


def make_generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from non-negative integers, e.g. (seed, epoch, index).

    The keys are hashed by numpy's ``SeedSequence`` rather than combined arithmetically
    (``seed * 1000 + epoch``), which would collide and give neighbouring items correlated
    streams.
    """
    if any(key < 0 for key in keys):
        raise ValueError(f"generator keys must be non-negative integers, got {keys}")
    state = np.random.SeedSequence([int(key) for key in keys]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


# How images are brought to the training size: the options of the pix2pix/CycleGAN code, the
# Context Encoders loader's (shorter side) and pix2pixHD's scale_width (width, rounded).
PREPROCESS = (
    "resize_and_crop",
    "scale_width",
    "scale_width_and_crop",
    "scale_shorter_and_crop",
    "scale_width_rounded",
    "none",
)
PREPROCESS_HELP = {
    "resize_and_crop": "squash to load_size squared, random crop_size crop",
    "scale_width": "width to load_size, aspect kept (height at least crop_size)",
    "scale_width_and_crop": "that, then a random crop",
    "scale_shorter_and_crop": "shorter side to load_size, aspect kept, random crop",
    "scale_width_rounded": "width to load_size, aspect kept, sides rounded to the network's "
    "multiple, no crop (pix2pixHD's scale_width)",
    "none": "sides rounded to the network's multiple (non-square images)",
}


def preprocess_option(
    default: str = "resize_and_crop", choices: tuple[str, ...] = PREPROCESS, **changes: Any
) -> Any:
    """The ``--preprocess`` config field of the image tasks: ``choices`` are the modes a task
    can use (each means the same in every task), ``changes`` further ``option`` arguments
    (``saved_default``)."""
    described = "; ".join(f"{mode}: {PREPROCESS_HELP[mode]}" for mode in choices)
    return option(default, described, choices, **changes)


def channels_option() -> Any:
    """The ``--channels`` config field of the image-to-image tasks."""
    return option(
        3, "image channels: 3 (RGB) or 1 (a grayscale model; images read as luma)", (1, 3)
    )


def preprocessed_size(
    size: tuple[int, int], mode: str, target: int, crop_size: int, multiple: int = 4
) -> tuple[int, int]:
    """(height, width) that an image of ``size`` = (height, width) is resized to before its
    crop, as ``mode`` (:data:`PREPROCESS`) says, ``target`` being the load size (training)
    or the crop size (evaluation)."""
    height, width = size

    def rounded(side: float) -> int:
        return max(multiple, round(side / multiple) * multiple)

    if mode == "resize_and_crop":
        return target, target
    if mode in ("scale_width", "scale_width_and_crop"):
        return max(int(target * height / width), crop_size), target
    if mode == "scale_shorter_and_crop":
        if width < height:
            return int(target * height / width), target
        return target, int(target * width / height)
    if mode == "scale_width_rounded":
        return rounded(int(target * height / width)), rounded(target)
    if mode == "none":
        return rounded(height), rounded(width)
    raise ValueError(f"preprocess={mode!r}: choose one of {', '.join(PREPROCESS)}")


def preprocess_images(
    images: list[Image.Image],
    mode: str,
    load_size: int,
    crop_size: int,
    flip: bool,
    generator: torch.Generator | None,
    multiple: int = 4,
    resamples: list[Image.Resampling] | None = None,
) -> list[Image.Image]:
    """Bring ``images`` (of one size: the two of a pair, or a single one) to the network's
    input as ``mode`` (:data:`PREPROCESS`, sizes by :func:`preprocessed_size`) says, all by
    the same resize, crop and flip.

    Training (``generator`` given) resizes (to ``load_size``) and draws a random crop and
    flip; evaluation (None) resizes to ``crop_size`` instead and takes the centre, with no
    flip, as the reference code's test options do (load_size = crop_size). ``multiple``:
    the generator's, for the modes that round sides to it. ``resamples``: each image's
    resize filter (default bicubic; NEAREST for a label map, whose values must stay
    classes).
    """
    width, height = images[0].size
    target = load_size if generator is not None else crop_size
    size = preprocessed_size((height, width), mode, target, crop_size, multiple)
    crop = (crop_size, crop_size) if mode.endswith("crop") else size
    if generator is not None:
        params = sample_crop_flip(size, crop, flip, generator)
    else:
        params = center_crop(size, crop)
    filters = resamples or [Image.Resampling.BICUBIC] * len(images)
    return [
        apply_crop_flip(resize(image, size, resample), params)
        for image, resample in zip(images, filters, strict=True)
    ]


def center_crop(size: tuple[int, int], crop: tuple[int, int]) -> CropFlip:
    """The centred ``crop`` = (h, w) window of an image of ``size`` = (H, W), unflipped."""
    top, left = (size[0] - crop[0]) // 2, (size[1] - crop[1]) // 2
    return CropFlip(top, left, crop[0], crop[1], False)


def load_size_for(crop_size: int, load_size: int = 0) -> int:
    """The resize before a random crop: ``load_size`` when given, else the pix2pix/CycleGAN
    ratio 286/256 of the crop (a 30-pixel jitter margin at 256)."""
    return load_size or round(crop_size * 286 / 256)


def resize(
    image: Image.Image,
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.BICUBIC,
) -> Image.Image:
    """Resize a PIL image to ``size`` = (height, width) with PIL's bicubic filter (or
    ``resample``: NEAREST for label maps, whose values must stay classes).

    PIL rather than torch because pix2pix and CycleGAN resized with PIL's bicubic, and
    torch's bicubic kernel gives measurably different pixels.
    """
    height, width = size
    return image.resize((width, height), resample)


@dataclass(frozen=True)
class CropFlip:
    """A crop window (top-left corner and size, in pixels) and whether to mirror it."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def sample_crop_flip(
    image_size: tuple[int, int],
    crop_size: tuple[int, int],
    flip: bool,
    generator: torch.Generator,
) -> CropFlip:
    """Draw a uniformly placed ``crop_size`` = (h, w) window inside ``image_size`` = (H, W),
    and a horizontal flip with probability 1/2 when ``flip`` is true.

    Draws happen in a fixed order (top, left, flip), so equal generators give equal results.
    """
    (height, width), (crop_height, crop_width) = image_size, crop_size
    if crop_height > height or crop_width > width:
        raise ValueError(
            f"crop {crop_height}x{crop_width} does not fit in an image of {height}x{width}: "
            "lower the crop size or raise the load size"
        )
    top = int(torch.randint(height - crop_height + 1, (1,), generator=generator))
    left = int(torch.randint(width - crop_width + 1, (1,), generator=generator))
    mirrored = flip and bool(torch.rand(1, generator=generator) < 0.5)
    return CropFlip(top, left, crop_height, crop_width, mirrored)


def apply_crop_flip(image: ImageT, params: CropFlip) -> ImageT:
    """Crop (and mirror) a PIL image or a (..., H, W) tensor as ``params`` says."""
    return hflip(crop(image, params)) if params.flip else crop(image, params)


def crop(image: ImageT, params: CropFlip) -> ImageT:
    """The window of ``params`` from a PIL image or a (..., H, W) tensor (flip ignored)."""
    bottom, right = params.top + params.height, params.left + params.width
    if isinstance(image, Image.Image):
        return image.crop((params.left, params.top, right, bottom))
    return image[..., params.top : bottom, params.left : right]


def hflip(image: ImageT) -> ImageT:
    """Mirror a PIL image or a (..., H, W) tensor left-right."""
    if isinstance(image, Image.Image):
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image.flip(-1)
