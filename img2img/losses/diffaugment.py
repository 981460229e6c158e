"""Differentiable augmentation for data-efficient GANs (DiffAugment, Zhao et al. 2020).

A discriminator trained on a few thousand images memorises them; augmenting only the reals
would teach the generator to produce augmented images. DiffAugment applies the same random
family of transforms to *both* the real and the fake images the discriminator sees, in its
own step and in the generator's turn, and every transform is differentiable, so the
generator's gradient passes through it. :class:`img2img.losses.Adversary` takes one as its
``augment``; every task's ``--diffaugment`` builds it (:func:`make_diffaugment`).

The policy is a comma-separated list of the reference code's transforms
(mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``), applied in the order given,
each with its own random draw per sample:

- ``color``: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the per-pixel channel
  mean; contrast x U(0.5, 1.5) around the per-image mean;
- ``translation``: a shift of up to 1/8 of the image side in x and y (integer pixels),
  zeros shifted in;
- ``cutout``: a square of half the image side, centred uniformly (clipped at the borders),
  set to 0.

Built on kornia where kornia's operation is the reference's: brightness
(``kornia.enhance.adjust_brightness``, unclipped) and the shift
(``kornia.geometry.transform.translate``, nearest sampling, zero padding, which moves
pixels exactly by integer offsets). Departure, written down: kornia's saturation and
contrast clamp to [0, 1] and weigh channels as RGB luminance, while our images are in
[-1, 1] (and may have 1 or 6 channels: MNIST, pix2pix's condition + image), so those two
are the reference's channel-mean arithmetic; cutout is a mask product (kornia's
``RandomErasing`` draws rectangles of random area and aspect instead).

Random draws come from the global torch RNG, which a checkpoint saves and a resume
restores, so augmented runs resume exactly. kornia is imported on first use: importing it
takes about a second, which every task's import (and ``img2img --help``) would pay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from img2img.config import option

TRANSLATION_RATIO = 0.125  # the reference's shift bound, a fraction of the image side
CUTOUT_RATIO = 0.5  # the reference's cutout side, a fraction of the image side


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    """One draw per sample, U(low, high), shaped (N, 1, 1, 1)."""
    return torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def color(x: Tensor) -> Tensor:
    """Random brightness, saturation and contrast, as in the reference code."""
    from kornia.enhance import adjust_brightness

    x = adjust_brightness(x, _uniform(x, -0.5, 0.5).flatten(), clip_output=False)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x: Tensor, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its side, zeros shifted in."""
    from kornia.geometry.transform import translate

    h, w = x.shape[-2:]
    bounds = (int(w * ratio + 0.5), int(h * ratio + 0.5))  # (x, y), as translate wants
    shift = torch.stack(
        [torch.randint(-b, b + 1, (len(x),), device=x.device) for b in bounds], dim=1
    )
    return translate(x, shift.to(x.dtype), mode="nearest", padding_mode="zeros")


def cutout(x: Tensor, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Zero a square of ``ratio`` times the image side per image, centred uniformly over the
    image (the reference's offsets) and clipped at its borders."""
    n, (h, w) = len(x), x.shape[-2:]
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside_y = (rows >= cy - size_y // 2) & (rows < cy - size_y // 2 + size_y)
    inside_x = (cols >= cx - size_x // 2) & (cols < cx - size_x // 2 + size_x)
    keep = ~(inside_y & inside_x)
    return x * keep.unsqueeze(1).to(x.dtype)


TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


class DiffAugment:
    """The policy's transforms in order: ``DiffAugment("color,translation")(images)``.

    ``images`` are ``(N, C, H, W)``; each call draws new random parameters per sample. An
    unknown name raises ValueError listing the valid ones.
    """

    def __init__(self, policy: str) -> None:
        self.names = [name.strip() for name in policy.split(",") if name.strip()]
        unknown = [name for name in self.names if name not in TRANSFORMS]
        if unknown or not self.names:
            raise ValueError(
                f"--diffaugment {policy!r}: unknown transform(s) {unknown or [policy]}; "
                f"give a comma-separated list of {', '.join(TRANSFORMS)}"
            )

    def __call__(self, images: Tensor) -> Tensor:
        if images.dim() != 4:
            raise ValueError(
                f"DiffAugment works on image batches (N, C, H, W), got shape {tuple(images.shape)}"
            )
        for name in self.names:
            images = TRANSFORMS[name](images)
        return images

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.names)!r})"


def make_diffaugment(policy: str) -> DiffAugment | None:
    """The :class:`DiffAugment` of a ``--diffaugment`` value; None when it is empty (off)."""
    return DiffAugment(policy) if policy.strip() else None


def diffaugment_option() -> Any:
    """The ``diffaugment`` field of every task config with a discriminator: the same name,
    help and default (off) everywhere."""
    return option(
        "",
        "DiffAugment policy for D's real and fake inputs, e.g. color,translation,cutout "
        "(empty: off)",
    )
