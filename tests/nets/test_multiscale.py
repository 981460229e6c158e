"""Multi-scale PatchGANs: the k-th sees the input downsampled by 2**k, with its own weights."""

from __future__ import annotations

import pytest
import torch

from img2img.nets.multiscale import MultiScaleDiscriminator, downsample, multiscale_receptive_field
from img2img.nets.patchgan import receptive_field


def test_kth_discriminator_judges_the_input_downsampled_k_times() -> None:
    torch.manual_seed(0)
    net = MultiScaleDiscriminator(num_d=3, in_channels=2, ndf=4, n_layers=2, norm="none")
    x = torch.randn(2, 2, 64, 48)
    out = net(x)
    assert [tuple(m.shape) for m in out.logits] == [(2, 1, 14, 10), (2, 1, 6, 4), (2, 1, 2, 1)]
    scaled = x
    for k, scale in enumerate(net.scales):
        torch.testing.assert_close(out.logits[k], scale(scaled))
        assert len(out.features[k]) == 3  # one map per LeakyReLU: n_layers + 1
        torch.testing.assert_close(out.features[k][-1], scale.body[:-1](scaled))
        scaled = downsample(scaled)
    assert tuple(downsample(x).shape) == (2, 2, 32, 24)


def test_downsample_averages_3x3_windows_without_counting_padding() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = downsample(x)
    assert out[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)  # corner: 4 real pixels
    assert out[0, 0, 1, 1] == pytest.approx(sum([5, 6, 7, 9, 10, 11, 13, 14, 15]) / 9)


def test_each_scale_has_its_own_parameters() -> None:
    net = MultiScaleDiscriminator(num_d=3, in_channels=3, ndf=4, n_layers=1)
    ids = [{id(p) for p in scale.parameters()} for scale in net.scales]
    assert all(ids) and not (ids[0] & ids[1] or ids[1] & ids[2] or ids[0] & ids[2])
    assert len(list(net.parameters())) == sum(len(i) for i in ids)
    assert len({name.split(".")[1] for name in net.state_dict()}) == 3  # scales.0/1/2


@pytest.mark.parametrize("scale", [0, 1, 2])
def test_receptive_field_of_each_scale(scale: int) -> None:
    """The input pixels that move the centre logit of scale k span the computed field,
    about 2**k times the PatchGAN's own (16 px for n_layers=1)."""
    net = MultiScaleDiscriminator(num_d=3, in_channels=1, ndf=2, n_layers=1, norm="none")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.1)
    x = torch.zeros(1, 1, 192, 192, requires_grad=True)
    logits = net(x).logits[scale]
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero()
    assert int(rows.max() - rows.min() + 1) == multiscale_receptive_field(1, scale)
    assert multiscale_receptive_field(1, 0) == receptive_field(1) == 16
    assert multiscale_receptive_field(3, 0) == 70
    assert [multiscale_receptive_field(3, k) for k in (1, 2)] == [141, 283]
