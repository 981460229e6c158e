"""The Context Encoder's weighted L2, against values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from img2img.losses.inpainting import hole_l2


def test_band_errors_count_ten_times_and_the_rest_not_at_all() -> None:
    target = torch.zeros(1, 1, 1, 4)
    prediction = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    hole = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]])
    band = torch.tensor([[[[0.0, 1.0, 0.0, 0.0]]]])
    # hole 1 * 1^2 + band 10 * 2^2 over the 2 predicted pixels; pixels 3 and 4 count 0.
    assert hole_l2(prediction, target, hole, band, 10.0).item() == pytest.approx((1 + 40) / 2)
    assert hole_l2(prediction, target, hole, band, 1.0).item() == pytest.approx((1 + 4) / 2)
    assert hole_l2(prediction, target, hole, band).item() == pytest.approx((1 + 40) / 2)
    one = torch.ones(1, 1, 1, 1)  # the smallest region, one pixel of one channel
    assert hole_l2(one, torch.zeros_like(one), one, torch.zeros_like(one)).item() == 1.0


def test_channels_are_averaged() -> None:
    prediction = torch.tensor([1.0, 3.0, 0.0]).view(1, 3, 1, 1)
    hole, band = torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)
    assert hole_l2(prediction, torch.zeros(1, 3, 1, 1), hole, band).item() == pytest.approx(10 / 3)
