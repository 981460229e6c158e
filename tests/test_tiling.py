"""Tiled inference: same result as whole-image inference, any size, any scale."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

from img2img.infer import Translator
from img2img.tasks.pix2pix import Pix2PixConfig
from img2img.tiling import ramp, run_tiled, tile_starts


class TinyUpscaler(nn.Module):
    """Three 3x3 convs (receptive-field radius 3) then a x2 pixel shuffle, like an SRResNet."""

    in_channels, scale, size_multiple = 3, 2, 1

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.PReLU(8),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.PReLU(8),
            nn.Conv2d(8, 12, 3, padding=1),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.body(x))


@pytest.mark.parametrize(("length", "tile", "overlap"), [(100, 48, 16), (48, 48, 8), (49, 48, 8)])
def test_tiles_cover_the_image_with_the_requested_overlap(length, tile, overlap) -> None:
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    for a, b in itertools.pairwise(starts):
        assert a + tile - b >= overlap


def test_blend_weights_ramp_only_at_inner_edges() -> None:
    border = ramp(slice(0, 10), 10, overlap=4)
    assert torch.equal(border, torch.ones(10))
    inner = ramp(slice(5, 21), 30, overlap=8)
    assert inner[:2].max() < 1e-5 and inner[-2:].max() < 1e-5  # outer quarter: ~0
    assert inner[2:6].tolist() == pytest.approx([0.125, 0.375, 0.625, 0.875])
    assert torch.equal(inner[6:10], torch.ones(4))
    assert torch.equal(inner, inner.flip(0))


def test_tiled_equals_untiled_for_a_network_with_a_small_receptive_field() -> None:
    torch.manual_seed(0)
    network = TinyUpscaler().eval()
    x = torch.rand(2, 3, 70, 97) * 2 - 1
    with torch.no_grad():
        whole = network(x)
        exact = run_tiled(network, x, tile=32, overlap=12, scale=2)  # radius 3 <= 12 / 4
        short = run_tiled(network, x, tile=32, overlap=4, scale=2)  # radius 3 > 4 / 4
    assert exact.shape == whole.shape == (2, 3, 140, 194)
    assert (exact - whole).abs().max() < 1e-5
    assert (short - whole).abs().max() > 1e-3  # the rule is tight: less overlap shows


def test_translator_scales_crops_and_tiles(tmp_path) -> None:
    """Sizes that are not network multiples, a scale of 2, and --tile 0 vs tiling agree."""
    torch.manual_seed(0)
    config = Pix2PixConfig(norm="instance")
    network = TinyUpscaler()
    device = torch.device("cpu")
    whole = Translator(network, config, device, precision="fp32", tile=0)
    tiled = Translator(network, config, device, precision="fp32", tile=40, tile_overlap=16)
    x = torch.rand(1, 3, 61, 90) * 2 - 1
    a, b = whole.translate_tensor(x), tiled.translate_tensor(x)
    assert a.shape == (1, 3, 122, 180)
    assert (a - b).abs().max() < 1 / 255


def test_the_shipped_sr_model_tiled_equals_untiled_within_one_level(one_thread) -> None:
    """The issue's criterion on a real SRResNet (receptive field wider than overlap / 4):
    tiles of 64 px (overlap 32) vs the whole 150 x 180 image, within 1/255."""
    from img2img.images import load_image, to_tensor
    from img2img.infer import load

    image = Path(__file__).resolve().parents[1] / "examples" / "facade_label.png"
    x = to_tensor(load_image(image))[0][..., :150, :180]
    whole = load("sr-x4", "cpu", "fp32", tile=0).translate_tensor(x)
    tiled = load("sr-x4", "cpu", "fp32", tile=64).translate_tensor(x)
    assert tiled.shape == whole.shape == (1, 3, 600, 720)
    assert (tiled.clamp(-1, 1) - whole.clamp(-1, 1)).abs().max() * 127.5 < 1
