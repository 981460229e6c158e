"""The Context Encoder's layout: the reference's widths, the bottleneck's size, full-size output."""

from __future__ import annotations

import pytest
import torch

from img2img.nets.context_encoder import ChannelwiseFC, ContextEncoder, encoder_widths


def test_encoder_widths_follow_the_reference() -> None:
    assert encoder_widths(128, 64) == [64, 64, 128, 256, 512]  # train.lua's netE at 128 px
    assert encoder_widths(64, 32) == [32, 64, 128, 256]
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        encoder_widths(96, 64)


@pytest.mark.parametrize("bottleneck", [100, "channelwise"])
def test_output_is_the_full_image_in_tanh_range(bottleneck) -> None:
    net = ContextEncoder(image_size=32, nef=8, ngf=4, bottleneck=bottleneck, mask_channel=True)
    out = net(torch.randn(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="expected 32 x 32 image and mask"):
        net(torch.randn(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))


def test_channelwise_fc_connects_positions_within_a_channel_only() -> None:
    layer = ChannelwiseFC(channels=3, side=4)
    assert layer.weight.shape == (3, 16, 16)  # C * 16**2 weights, no cross-channel ones
    x = torch.zeros(1, 3, 4, 4, requires_grad=True)
    layer(x)[0, 1, 2, 3].backward()
    touched = x.grad.abs().sum(dim=(2, 3))[0]
    assert touched[0] == 0 and touched[2] == 0 and touched[1] > 0


def test_the_reference_bottleneck_is_a_4000_code() -> None:
    net = ContextEncoder(image_size=32, nef=4, ngf=4)
    codes = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 4000]
    assert len(codes) == 1 and codes[0].kernel_size == (4, 4)
