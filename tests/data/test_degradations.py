"""SR degradations on kornia: the Gaussian blur's kernel, and the second-order chain."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import make_hr_images

from img2img.data.degradations import anisotropic_kernel, gaussian_blur, second_order
from img2img.data.sr import SRImageFolder


def test_gaussian_blur_spreads_an_impulse_into_its_kernel() -> None:
    sigma, radius = 1.0, 3  # radius = int(3 sigma + 0.5)
    impulse = torch.zeros(3, 15, 15)
    impulse[:, 7, 7] = 1.0
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    line = torch.exp(-(offsets**2) / 2)
    line = line / line.sum()
    expected = torch.zeros(15, 15)
    expected[4:11, 4:11] = torch.outer(line, line)
    torch.testing.assert_close(gaussian_blur(impulse, sigma), expected.expand(3, -1, -1))


def test_an_anisotropic_kernel_is_wide_along_its_axis() -> None:
    kernel = anisotropic_kernel(11, 3.0, 0.5, math.pi / 2)  # turned upright
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    assert kernel[:, 5].sum() > 3 * kernel[5, :].sum()  # the column holds the wide axis


def test_second_order_is_a_function_of_the_generator() -> None:
    hr = torch.rand(3, 48, 48) * 2 - 1
    outputs = [second_order(hr, 4, torch.Generator().manual_seed(seed)) for seed in (1, 1, 2)]
    assert outputs[0].shape == (3, 12, 12)
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    assert outputs[0].min() >= -1 and outputs[0].max() <= 1


def test_the_dataset_degrades_exactly_again(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "hr", [(48, 48), (56, 48)])
    options = {"crop_size": 32, "scale": 4, "degradation": "second-order", "seed": 3}
    first, again = SRImageFolder([root], **options), SRImageFolder([root], **options)
    plain = SRImageFolder([root], crop_size=32, scale=4, seed=3)
    item = first[(2, 1)]
    assert torch.equal(item["input"], again[(2, 1)]["input"])
    assert torch.equal(item["target"], plain[(2, 1)]["target"])  # same crop, other LR
    assert not torch.equal(item["input"], plain[(2, 1)]["input"])
