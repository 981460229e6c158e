"""Full-reference pixel metrics: PSNR and SSIM, on RGB or on the Y channel with a border shave.

Inputs are img2img's convention, float tensors of shape (N, C, H, W) or (C, H, W) in
[-1, 1]; they are mapped to [0, 1] and computed in float64, so the result does not depend on
the dtype they arrive in. Each function returns one value per image, shape (N,): average
them yourself (the per-image mean is the convention of the SR and pix2pix papers).

``y_channel=True`` converts to the luma of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes
it (Y in [16, 235] / 255), and ``shave`` drops that many pixels at every border: the
protocol of the SR literature (SRCNN, SRGAN, EDSR report Y-channel PSNR/SSIM with the
scale factor shaved).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

# MATLAB rgb2ycbcr, Y row, for RGB in [0, 1]: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255.
_Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)
_Y_OFFSET = 16 / 255

# Wang, Bovik, Sheikh and Simoncelli (2004): 11x11 Gaussian window, sigma 1.5, K1, K2.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def prepare(image: Tensor, *, y_channel: bool = False, shave: int = 0) -> Tensor:
    """(N, 3, H, W) or (3, H, W) in [-1, 1] -> float64 (N, C', H - 2 shave, W - 2 shave) in
    [0, 1], C' = 1 for ``y_channel`` else 3."""
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) or (C, H, W); got shape {tuple(image.shape)}")
    x = (image.detach().to(torch.float64) + 1) / 2
    if y_channel:
        if x.shape[1] != 3:
            raise ValueError(f"y_channel needs RGB images; got {x.shape[1]} channels")
        weights = x.new_tensor(_Y_WEIGHTS).view(1, 3, 1, 1)
        x = (x * weights).sum(dim=1, keepdim=True) + _Y_OFFSET
    if shave:
        if min(x.shape[-2:]) <= 2 * shave:
            raise ValueError(f"shave={shave} leaves nothing of a {tuple(x.shape[-2:])} image")
        x = x[..., shave:-shave, shave:-shave]
    return x


def _prepare_pair(a: Tensor, b: Tensor, *, y_channel: bool, shave: int) -> tuple[Tensor, Tensor]:
    """Both images through :func:`prepare`; (C, H, W) and (1, C, H, W) count as the same."""
    x = prepare(a, y_channel=y_channel, shave=shave)
    y = prepare(b, y_channel=y_channel, shave=shave)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return x, y


def psnr(a: Tensor, b: Tensor, *, y_channel: bool = False, shave: int = 0) -> Tensor:
    """Peak signal-to-noise ratio in dB, per image: 10 log10(1 / MSE) with pixels in [0, 1].

    ``a``, ``b``: (N, C, H, W) or (C, H, W) in [-1, 1]. Returns float64 (N,); identical
    images give ``inf``.
    """
    x, y = _prepare_pair(a, b, y_channel=y_channel, shave=shave)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1 / mse)


@functools.lru_cache(maxsize=4)
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """The normalised 1-D Gaussian of ``size`` taps (float64), as scipy's gaussian_filter
    builds it for skimage (truncate = 3.5 gives 11 taps at sigma 1.5)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-(x**2) / (2 * sigma**2))
    return window / window.sum()


def _filter(x: Tensor, window: Tensor) -> Tensor:
    """Separable 'valid' Gaussian filtering of each channel of (N, C, H, W)."""
    channels = x.shape[1]
    horizontal = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(x, horizontal, groups=channels), vertical, groups=channels)


def ssim(a: Tensor, b: Tensor, *, y_channel: bool = False, shave: int = 0) -> Tensor:
    """Structural similarity (Wang et al., 2004), per image, averaged over pixels and channels.

    11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, population
    (not sample) covariances; statistics only where the window fits inside the image (the
    'valid' region, as the reference MATLAB code and skimage's mean both use). Equals
    ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)``.

    ``a``, ``b``: (N, C, H, W) or (C, H, W) in [-1, 1], at least 11x11 after the shave.
    Returns float64 (N,) in [-1, 1].
    """
    x, y = _prepare_pair(a, b, y_channel=y_channel, shave=shave)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least 11x11; got {tuple(x.shape[-2:])}")
    window = gaussian_window().to(x.device)
    mu_x, mu_y = _filter(x, window), _filter(y, window)
    var_x = _filter(x * x, window) - mu_x**2
    var_y = _filter(y * y, window) - mu_y**2
    cov = _filter(x * y, window) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (numerator / denominator).flatten(1).mean(dim=1)
