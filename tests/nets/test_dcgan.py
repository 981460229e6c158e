"""DCGAN and MLP networks: shapes at every size, conditioning, spectral norm."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from img2img.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_layout
from img2img.nets.mlp import MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("classes", [0, 10])
@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_dcgan_shapes(size: int, classes: int, conditioning: str) -> None:
    g = DCGANGenerator(z_dim=8, image_size=size, channels=1, ngf=4, num_classes=classes)
    d = DCGANDiscriminator(
        image_size=size, channels=1, ndf=4, num_classes=classes, conditioning=conditioning
    )
    labels = torch.tensor([3, 7]) if classes else None
    x = g(torch.randn(2, 8), labels)
    assert x.shape == (2, 1, size, size)
    assert x.abs().max() <= 1
    logits = d(x, labels)
    assert logits.shape == (2,)


def test_dcgan_layout_and_errors() -> None:
    assert dcgan_layout(28) == (7, 2)
    assert dcgan_layout(32) == (4, 3)
    assert dcgan_layout(64) == (4, 4)
    with pytest.raises(ValueError, match="image_size=30"):
        dcgan_layout(30)
    g = DCGANGenerator(z_dim=4, image_size=28, ngf=4, num_classes=10)
    with pytest.raises(ValueError, match="pass labels"):
        g(torch.randn(1, 4))


def test_projection_discriminator_depends_on_the_label() -> None:
    torch.manual_seed(0)
    d = DCGANDiscriminator(image_size=28, channels=1, ndf=4, num_classes=10, norm="none")
    x = torch.randn(1, 1, 28, 28)
    assert d(x, torch.tensor([1])) != d(x, torch.tensor([2]))


def test_spectral_norm_wraps_discriminator_layers() -> None:
    d = DCGANDiscriminator(image_size=32, ndf=4, spectral_norm=True, norm="none")
    assert parametrize.is_parametrized(d.head, "weight")
    mlp = MLPDiscriminator(hidden=8, spectral_norm=True)
    assert all(parametrize.is_parametrized(m, "weight") for m in mlp.body if hasattr(m, "weight"))


def test_mlp_shapes() -> None:
    assert MLPGenerator(z_dim=3, hidden=8)(torch.randn(5, 3)).shape == (5, 2)
    assert MLPDiscriminator(hidden=8)(torch.randn(5, 2)).shape == (5,)
