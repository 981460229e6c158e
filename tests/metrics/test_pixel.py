"""PSNR / SSIM against hand-computed values, skimage on real images, and the SR literature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_agrees_with_skimage, require_shared
from PIL import Image

from img2img.images import pil_to_tensor
from img2img.metrics import psnr, ssim


@pytest.fixture(scope="module")
def set5_pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Set5 HR images (cropped to a multiple of 4) and their 4x PIL-bicubic down/up copies."""
    pairs = []
    for path in sorted(require_shared("sr", "Set5").glob("*.png")):
        image = Image.open(path).convert("RGB")
        width, height = image.size[0] // 4 * 4, image.size[1] // 4 * 4
        image = image.crop((0, 0, width, height))
        low = image.resize((width // 4, height // 4), Image.BICUBIC)
        pairs.append((pil_to_tensor(image), pil_to_tensor(low.resize(image.size, Image.BICUBIC))))
    return pairs


def test_psnr_hand_values() -> None:
    a = torch.full((2, 3, 16, 16), -1.0)
    b = a.clone()
    b[0] += 0.25  # 1/8 in [0, 1] units: MSE 1/64 -> 10 log10(64) dB
    b[1, :, :8] += 2.0  # half the pixels off by 1: MSE 0.5 -> 10 log10(2)
    values = psnr(b, a)
    assert values.dtype == torch.float64 and values.shape == (2,)
    assert values[0].item() == pytest.approx(10 * math.log10(64), abs=1e-9)
    assert values[1].item() == pytest.approx(10 * math.log10(2), abs=1e-9)
    assert psnr(a[0], a[0]).item() == math.inf


def test_ssim_hand_values() -> None:
    # Constant images: no variance, so SSIM is the luminance term (2 m n + C1) / (m^2 + n^2 + C1).
    m, n = 0.25, 0.75
    a = torch.full((1, 3, 20, 20), 2 * m - 1)
    b = torch.full((1, 3, 20, 20), 2 * n - 1)
    c1 = 0.01**2
    assert ssim(a, b).item() == pytest.approx((2 * m * n + c1) / (m**2 + n**2 + c1), abs=1e-12)
    noise = torch.rand(2, 3, 24, 24) * 2 - 1
    assert torch.allclose(ssim(noise, noise), torch.ones(2, dtype=torch.float64))
    assert ssim(noise, -noise).max() < 0  # anti-correlated structure


def test_y_channel_and_shave() -> None:
    white, black = torch.ones(1, 3, 12, 12), -torch.ones(1, 3, 12, 12)
    # MATLAB rgb2ycbcr: Y spans [16, 235] / 255, so white vs black differ by 219 / 255.
    expected = 10 * math.log10(1 / (219 / 255) ** 2)
    assert psnr(white, black, y_channel=True).item() == pytest.approx(expected, abs=1e-9)
    a, b = torch.zeros(1, 3, 12, 12), torch.zeros(1, 3, 12, 12)
    b[..., 0, :] = 1.0  # an error only in the border row disappears with shave=1
    assert math.isinf(psnr(a, b, shave=1).item()) and not math.isinf(psnr(a, b).item())
    with pytest.raises(ValueError, match="shave=6"):
        psnr(a, b, shave=6)
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(a, b[..., :11])


def test_agrees_with_skimage_on_real_images(set5_pairs: list) -> None:
    for hr, up in set5_pairs[1:4]:  # bird, butterfly, head: the three smallest, to stay quick
        assert_agrees_with_skimage(up, hr, ssim_tol=1e-4)


def test_set5_bicubic_matches_the_literature(set5_pairs: list) -> None:
    """4x bicubic on Set5, Y channel, 4 px shaved: 28.43 dB / 0.8104 in the SR papers."""
    pairs = set5_pairs
    mean_psnr = np.mean([psnr(up, hr, y_channel=True, shave=4).item() for hr, up in pairs])
    mean_ssim = np.mean([ssim(up, hr, y_channel=True, shave=4).item() for hr, up in pairs])
    assert mean_psnr == pytest.approx(28.43, abs=0.05)
    assert mean_ssim == pytest.approx(0.8104, abs=0.002)


def test_size_limits_are_exact() -> None:
    """A shave may leave one pixel, never none; SSIM takes one 11x11 window, not fewer."""
    image = torch.zeros(1, 3, 9, 9)
    assert psnr(image, image + 0.1, shave=4).shape == (1,)  # 1x1 left
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr(image[..., :8, :8], image[..., :8, :8], shave=4)
    window = torch.rand(1, 3, 11, 11) * 2 - 1
    assert ssim(window, window).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(window[..., :10], window[..., :10])
