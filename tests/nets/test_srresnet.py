"""SRResNet's output is exactly scale x its input; the SRGAN discriminator takes 96 px crops."""

from __future__ import annotations

import pytest
import torch

from img2img.nets.srresnet import SRGANDiscriminator, SRResNet


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_generator_output_is_exactly_scale_times_the_input(scale: int) -> None:
    net = SRResNet(scale=scale, blocks=2, channels=8).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 7, 10) * 2 - 1)  # odd sizes: no multiple needed
    assert out.shape == (2, 3, 7 * scale, 10 * scale)
    assert net.scale == scale and net.size_multiple == 1


def test_paper_generator_has_the_published_shape() -> None:
    net = SRResNet()  # 16 blocks, 64 channels, two PixelShuffle x2 stages
    assert len(net.trunk) == 16 + 2
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in net.modules()) == 2
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(1.55e6, rel=0.01)


def test_generator_refuses_an_unsupported_scale() -> None:
    with pytest.raises(ValueError, match="scale=3"):
        SRResNet(scale=3)


@pytest.mark.parametrize("size", [96, 64, 128])
def test_discriminator_gives_one_logit_per_crop(size: int) -> None:
    net = SRGANDiscriminator(channels=8)
    assert net(torch.rand(2, 3, size, size)).shape == (2,)


def test_discriminator_strides_a_96_crop_down_to_the_papers_6x6_map() -> None:
    net = SRGANDiscriminator(channels=8)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert net.features[:-1](torch.rand(1, 3, 96, 96)).shape[-2:] == (6, 6)  # pool: identity
