"""Degradations that turn an HR crop into a realistic LR input for super-resolution, on
kornia's filters and a real JPEG codec.

Every random choice is drawn from the generator the caller passes (the item's own, seeded
by (seed, epoch, index)), so a degraded LR image is a pure function of the item and a
resumed run sees the same inputs.

:func:`second_order` is the "high-order degradation model" of Real-ESRGAN (Wang et al.,
2021) as its reference code configures it: blur (isotropic or anisotropic Gaussian) ->
random resize -> Gaussian or Poisson noise (sometimes grey) -> JPEG, twice, then the resize
to the LR size and a last JPEG. Departures: the sinc (ringing) filter, the generalised and
plateau-shaped kernels and the random order of the last resize and JPEG are left out; the
probabilities and ranges kept are the reference's ``finetune_realesrgan_x4plus.yml``.
"""

from __future__ import annotations

import io
import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from img2img.images import pil_to_tensor, quantize, tensor_to_pil

RESIZE_MODES = ("area", "bilinear", "bicubic")


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """(C, H, W) blurred by an isotropic Gaussian of ``sigma`` px (kernel radius 3 sigma,
    reflect padding)."""
    from kornia.filters import gaussian_blur2d

    size = 2 * max(1, int(3 * sigma + 0.5)) + 1
    return gaussian_blur2d(x[None], (size, size), (sigma, sigma), border_type="reflect")[0]


def anisotropic_kernel(size: int, sigma_x: float, sigma_y: float, angle: float) -> Tensor:
    """A (size, size) Gaussian kernel with standard deviations ``sigma_x`` and ``sigma_y``
    along axes turned by ``angle`` radians, summing to 1."""
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = cos * x + sin * y, -sin * x + cos * y
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return kernel / kernel.sum()


def blur_with(x: Tensor, kernel: Tensor) -> Tensor:
    """(C, H, W) convolved with a 2-D ``kernel`` (reflect padding), by kornia."""
    from kornia.filters import filter2d

    return filter2d(x[None], kernel[None], border_type="reflect")[0]


def jpeg(x: Tensor, quality: int) -> Tensor:
    """(3, H, W) in [-1, 1] through an in-memory JPEG encode/decode at ``quality``."""
    buffer = io.BytesIO()
    tensor_to_pil(x).save(buffer, format="JPEG", quality=quality)
    return pil_to_tensor(Image.open(buffer))


def uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def chance(p: float, generator: torch.Generator) -> bool:
    return bool(torch.rand(1, generator=generator) < p)


def pick(options: tuple, generator: torch.Generator) -> object:
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def random_blur(x: Tensor, sigma_range: tuple[float, float], generator: torch.Generator) -> Tensor:
    """An isotropic (45%) or anisotropic Gaussian of random size (7-21 px, odd) and widths."""
    size = int(pick(tuple(range(7, 22, 2)), generator))
    size = min(size, 2 * min(x.shape[1:]) - 1)  # reflect padding needs half the kernel inside
    sigma_x = uniform(*sigma_range, generator)
    if chance(0.45 / 0.9, generator):  # the reference's iso : aniso odds, 0.45 : 0.45
        sigma_y, angle = sigma_x, 0.0
    else:
        sigma_y, angle = uniform(*sigma_range, generator), uniform(-math.pi, math.pi, generator)
    return blur_with(x, anisotropic_kernel(size, sigma_x, sigma_y, angle))


def random_resize(
    x: Tensor,
    size: tuple[int, int],
    odds: tuple[float, float, float],
    scale_range: tuple[float, float],
    generator: torch.Generator,
) -> Tensor:
    """Resize ``size`` (H, W) up, down or not by a random factor (``odds`` of each) in
    ``scale_range``, with a random interpolation."""
    way = float(torch.rand(1, generator=generator))
    if way < odds[0]:
        factor = uniform(1.0, scale_range[1], generator)
    elif way < odds[0] + odds[1]:
        factor = uniform(scale_range[0], 1.0, generator)
    else:
        factor = 1.0
    target = tuple(max(1, round(side * factor)) for side in size)
    return resize_to(x, target, str(pick(RESIZE_MODES, generator)))


def resize_to(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    options = {"align_corners": False} if mode != "area" else {}
    return F.interpolate(x[None], size=size, mode=mode, **options)[0]


def random_noise(
    x: Tensor,
    sigma_range: tuple[float, float],
    poisson_range: tuple[float, float],
    generator: torch.Generator,
) -> Tensor:
    """Gaussian noise of ``sigma_range`` 8-bit levels (50%) or Poisson noise of
    ``poisson_range`` scale, grey (the same on every channel) 40% of the time."""
    grey = chance(0.4, generator)
    shape = (1, *x.shape[1:]) if grey else x.shape
    pixels = (x.clamp(-1, 1) + 1) / 2  # [0, 1]
    if chance(0.5, generator):
        noise = torch.randn(shape, generator=generator) * uniform(*sigma_range, generator) / 255
    else:  # shot noise of the 8-bit photon counts, its amplitude times the scale
        scale = uniform(*poisson_range, generator)
        levels = ((pixels.mean(0, keepdim=True) if grey else pixels) * 255).round()
        noise = (torch.poisson(levels, generator=generator) - levels) * scale / 255
    return (pixels + noise).clamp(0, 1) * 2 - 1


def second_order(hr: Tensor, scale: int, generator: torch.Generator) -> Tensor:
    """(3, H, W) HR in [-1, 1] -> (3, H / scale, W / scale) LR by two rounds of blur,
    resize, noise and JPEG (see the module docstring), rounded to 8 bits."""
    lr_size = (hr.shape[1] // scale, hr.shape[2] // scale)
    x = random_blur(hr, (0.2, 3.0), generator)
    x = random_resize(x, tuple(x.shape[1:]), (0.2, 0.7, 0.1), (0.15, 1.5), generator)
    x = random_noise(x, (1.0, 30.0), (0.05, 3.0), generator)
    x = jpeg(quantize(x), int(uniform(30, 95, generator)))
    if chance(0.8, generator):
        x = random_blur(x, (0.2, 1.5), generator)
    x = random_resize(x, lr_size, (0.3, 0.4, 0.3), (0.3, 1.2), generator)
    x = random_noise(x, (1.0, 25.0), (0.05, 2.5), generator)
    x = resize_to(x, lr_size, str(pick(RESIZE_MODES, generator)))
    return jpeg(quantize(x), int(uniform(30, 95, generator)))
