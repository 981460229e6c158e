"""Progressive growing's networks: the fade-in, the equalized learning rate, pixel norm and
the minibatch standard deviation, each against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from img2img.nets.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    ProGANDiscriminator,
    ProGANGenerator,
    level_and_alpha,
    levels_for,
    minibatch_stddev,
    pixel_norm,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"image_size": 16, "channels": 3, "fmap_base": 32, "fmap_max": 8}


def test_level_and_alpha_follow_the_reference_lod() -> None:
    # 16 px: 2 levels above 4x4; lod 2 is 4x4, lod 0 the image size.
    assert level_and_alpha(2.0, 2) == (0, 1.0)
    assert level_and_alpha(1.75, 2) == (1, 0.25)  # fading 8x8 in, a quarter of the way
    assert level_and_alpha(1.0, 2) == (1, 1.0)
    assert level_and_alpha(0.5, 2) == (2, 0.5)
    assert level_and_alpha(0.0, 2) == (2, 1.0)
    assert levels_for(32) == 3
    with pytest.raises(ValueError, match="power of two"):
        levels_for(28)


@pytest.mark.parametrize("level", [1, 2])
def test_at_alpha_zero_the_grown_generator_is_the_previous_one_upsampled(level: int) -> None:
    torch.manual_seed(0)
    g = ProGANGenerator(z_dim=8, **SMALL)
    z = torch.randn(4, 8)
    grown = g.synthesize(z, level, alpha=0.0)
    previous = g.synthesize(z, level - 1, alpha=1.0)
    assert grown.shape[-1] == 4 * 2**level
    assert torch.equal(grown, F.interpolate(previous, scale_factor=2, mode="nearest"))
    halfway = g.synthesize(z, level, alpha=0.5)
    assert not torch.allclose(halfway, grown)  # the new block does contribute once alpha > 0
    # The full-size output (what sampling sees) at the start of the fade is the old network's.
    g.set_lod(g.top - level + 1 - 1e-6)  # just inside the fade-in: alpha ~ 1e-6
    g_old = ProGANGenerator(z_dim=8, **SMALL)
    g_old.load_state_dict(g.state_dict())
    g_old.set_lod(g.top - level + 1)
    torch.testing.assert_close(g(z), g_old(z), atol=1e-4, rtol=0)
    assert g(z).shape == (4, 3, 16, 16)


def test_at_alpha_zero_the_grown_discriminator_is_the_previous_one() -> None:
    torch.manual_seed(0)
    d = ProGANDiscriminator(**SMALL, group_size=2)
    images = torch.randn(4, 3, 16, 16)
    assert torch.equal(d.judge(images, 2, alpha=0.0), d.judge(images, 1, alpha=1.0))
    assert not torch.allclose(d.judge(images, 2, alpha=0.5), d.judge(images, 1, alpha=1.0))
    assert d(images).shape == (4,)


def test_equalized_layers_scale_unit_normal_weights_by_the_he_constant() -> None:
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)  # stored N(0, 1)
    assert torch.count_nonzero(conv.bias) == 0
    x = torch.randn(2, 16, 5, 5)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / 144), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    linear = EqualizedLinear(50, 10, gain=1.0)
    assert linear.scale == pytest.approx(1 / math.sqrt(50))
    v = torch.randn(3, 50)
    torch.testing.assert_close(linear(v), v @ (linear.weight / math.sqrt(50)).T + linear.bias)
    # The scale is applied at run time, so the gradient reaching the stored weight is scaled
    # too: an Adam step moves every layer by the same relative amount.
    conv(x).sum().backward()
    effective = (conv.weight * conv.scale).detach().requires_grad_(True)
    F.conv2d(x, effective, conv.bias.detach(), padding=1).sum().backward()
    torch.testing.assert_close(conv.weight.grad, conv.scale * effective.grad)
    # The reference's special gains: G's first dense sqrt(2)/4, toRGB 1.
    g = ProGANGenerator(z_dim=8, **SMALL)
    assert g.dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(8))
    assert g.to_rgb[0].scale == pytest.approx(1 / math.sqrt(8))


def test_pixel_norm_gives_unit_rms_feature_vectors() -> None:
    x = torch.tensor([[[[3.0]], [[4.0]]]])  # one pixel, features (3, 4): rms 12.5 ** 0.5
    y = pixel_norm(x)
    torch.testing.assert_close(y.flatten(), torch.tensor([3.0, 4.0]) / math.sqrt(12.5))


def test_minibatch_stddev_appends_the_group_stddev_channel() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 3, 2, 2)
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (8, 4, 2, 2)
    assert torch.equal(y[:, :3], x)
    # Groups as the reference reshapes them: sample i is in group i % 2 (8 / 4 groups).
    for group in range(2):
        members = x[group::2]  # 4 samples
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        for i in range(group, 8, 2):
            torch.testing.assert_close(y[i, 3], torch.full((2, 2), std.item()))
    with pytest.raises(ValueError, match="not a multiple"):
        minibatch_stddev(torch.randn(6, 3, 2, 2), group_size=4)
    assert minibatch_stddev(torch.randn(2, 3, 2, 2), group_size=4).shape == (2, 4, 2, 2)
    # Identical samples have zero spread: the channel is sqrt(1e-8).
    same = minibatch_stddev(torch.ones(4, 2, 2, 2), group_size=4)[:, 2]
    torch.testing.assert_close(same, torch.full((4, 2, 2), 1e-4))


def test_discriminator_sees_the_stddev_channel() -> None:
    d = ProGANDiscriminator(**SMALL, group_size=4)
    assert d.blocks[0][0].weight.shape[1] == 8 + 1  # nf(1) = 8 features + the stddev channel
    assert ProGANDiscriminator(**SMALL, group_size=0).blocks[0][0].weight.shape[1] == 8
