"""pix2pixHD's coarse-to-fine generator: the local enhancer starts as G1's picture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from img2img.nets import init_weights
from img2img.nets.coarse_to_fine import LocalEnhancer, global_generator
from img2img.nets.multiscale import downsample
from img2img.nets.resnet import ResNetGenerator


def test_global_generator_downsamples_four_times_as_the_reference() -> None:
    net = global_generator(5, 3, ngf=4, n_blocks=2)
    assert net.size_multiple == 16
    assert net(torch.randn(1, 5, 48, 32)).shape == (1, 3, 48, 32)
    strided = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert [m.out_channels for m in strided] == [8, 16, 32, 64]
    three = global_generator(5, 3, ngf=4, n_blocks=2, n_downsampling=3)
    assert three.size_multiple == 8 and three(torch.randn(1, 5, 24, 16)).shape == (1, 3, 24, 16)


@pytest.mark.parametrize(("padding", "size"), [("reflect", (32, 16)), ("zeros", (16, 16))])
def test_an_image_too_small_for_the_downsamplings_is_refused_clearly(padding, size) -> None:
    net = ResNetGenerator(3, 3, ngf=4, n_blocks=1, n_downsampling=4, padding=padding)
    with pytest.raises(ValueError, match=rf"{size[0]}x{size[1]} input .* at least 32 px"):
        net(torch.randn(1, 3, *size))
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    if padding == "zeros":  # two positions are enough for instance norm
        assert net(torch.randn(1, 3, 32, 16)).shape == (1, 3, 32, 16)


@pytest.mark.parametrize(("downsamplings", "count"), [(4, 182_546_755), (3, 45_696_835)])
def test_global_generator_has_the_reference_parameter_count(downsamplings, count) -> None:
    """NVIDIA/pix2pixHD's GlobalGenerator at its defaults (ngf 64, 9 blocks, 35 label
    channels + 1 instance-edge channel), counted from its code."""
    with torch.device("meta"):
        net = global_generator(36, 3, ngf=64, n_blocks=9, n_downsampling=downsamplings)
    assert sum(p.numel() for p in net.parameters()) == count


def test_enhancer_at_initialisation_is_the_global_picture_upsampled() -> None:
    torch.manual_seed(0)
    coarse = global_generator(3, 3, ngf=8, n_blocks=1, n_downsampling=3)
    enhancer = LocalEnhancer(coarse, 3, 3, ngf=4, n_blocks=1)
    init_weights(enhancer)  # the recipe's init re-draws the output conv...
    enhancer.reset_output()  # ...which the recipe zeroes again
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        out = enhancer(x)
        small = coarse(downsample(x))
        pre_activation = coarse.body[:-1](downsample(x))  # G1 without its tanh
    assert out.shape == (2, 3, 32, 48) and small.shape == (2, 3, 16, 24)
    up = F.interpolate(pre_activation, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, torch.tanh(up), rtol=0, atol=1e-6)
    assert torch.equal(torch.tanh(pre_activation), small)
    upsampled = F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.corrcoef(torch.stack([out.flatten(), upsampled.flatten()]))[0, 1] > 0.99
    with pytest.raises(ValueError, match="multiples of 16"):
        enhancer(torch.randn(1, 3, 24, 24))


def test_enhancer_output_moves_away_from_the_global_picture_once_trained() -> None:
    """The zero output conv still receives a gradient, so training reaches the local layers."""
    torch.manual_seed(0)
    coarse = global_generator(3, 3, ngf=8, n_blocks=1, n_downsampling=3)
    enhancer = LocalEnhancer(coarse, 3, 3, ngf=4, n_blocks=1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    enhancer(x).sum().backward()
    assert enhancer.output.weight.grad.abs().sum() > 0
    local = {id(p) for p in enhancer.local_parameters()}
    assert local.isdisjoint(id(p) for p in enhancer.global_generator.parameters())
    assert len(local) + len(list(enhancer.global_generator.parameters())) == len(
        list(enhancer.parameters())
    )
