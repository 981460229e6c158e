"""DCGAN (Radford et al., 2016): a transposed-convolution generator from noise and a
strided-convolution discriminator, with optional class conditioning.

Both networks work at any size ``base * 2**k`` with ``base`` in 4..7 (28 = 7 * 4, 32 = 4 * 8,
64 = 4 * 16): the generator projects z to a ``base`` x ``base`` map and doubles it k times,
the discriminator halves the image k times and judges the ``base`` x ``base`` map with one
full-size convolution.

Conditioning (``num_classes > 0``):
- generator: a learned label embedding is concatenated to z (Mirza & Osindero 2014 used the
  one-hot label; an embedding is the same thing with a learned first layer);
- discriminator: ``D(x, labels)``, the labels a second argument (the Adversary's
  ``condition``), so a gradient penalty or R1 differentiates the image alone: the critic's
  Lipschitz constraint is on images, and a one-hot input's gradient would otherwise swell
  the penalised norm (about 3x the image gradient on 28 px MNIST at initialisation).
  ``conditioning="concat"`` appends the one-hot label as constant channels
  (:func:`with_label_maps`) and convolves them with the image; ``"projection"`` (Miyato &
  Koyama 2018) adds ``<embed(y), sum_hw features(x)>`` to the logit.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.blocks import apply_spectral_norm, conv_bias, norm_layer

CONDITIONINGS = ("projection", "concat")


def dcgan_layout(image_size: int) -> tuple[int, int]:
    """``(base, k)`` with ``image_size == base * 2**k``, ``k >= 1`` and 4 <= base <= 7."""
    base, k = image_size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, k = base // 2, k + 1
    if k == 0 or base > 7:
        raise ValueError(
            f"DCGAN: image_size={image_size} is not base * 2**k with base 4..7 and k >= 1; "
            "use 28, 32, 64 or 128, for example"
        )
    return base, k


def with_label_maps(images: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Append the one-hot ``labels`` (N,) as constant channels: (N, C, H, W) ->
    (N, C + num_classes, H, W). The concat-conditioned discriminator's first layer input."""
    one_hot = F.one_hot(labels, num_classes).to(images.dtype)
    maps = one_hot[:, :, None, None].expand(-1, -1, *images.shape[-2:])
    return torch.cat([images, maps], dim=1)


def downsampling_body(in_channels: int, widths: list[int], norm: str) -> nn.Sequential:
    """The DCGAN discriminator's body: one 4x4 stride-2 conv per width (each halves the
    image), LeakyReLU 0.2 after each and ``norm`` after all but the first. EBGAN's
    auto-encoder uses it as its encoder."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
    for w_in, w_out in pairwise(widths):
        layers += [
            nn.Conv2d(w_in, w_out, 4, 2, 1, bias=conv_bias(norm)),
            norm_layer(norm, w_out),
            nn.LeakyReLU(0.2),
        ]
    return nn.Sequential(*layers)


class DCGANGenerator(nn.Module):
    """z (N, z_dim) [+ labels (N,)] -> images (N, channels, S, S) in [-1, 1] (tanh).

    Args:
        z_dim: noise dimension (100 in the paper).
        image_size: S, see :func:`dcgan_layout`.
        channels: 1 (MNIST) or 3.
        ngf: width of the last hidden layer; each earlier one doubles it.
        norm: normalisation after each hidden transposed conv ("batch" in the paper).
        num_classes: > 0 makes it class-conditional.
        embed_dim: size of the label embedding joined to z.
    """

    def __init__(
        self,
        z_dim: int = 100,
        image_size: int = 64,
        channels: int = 3,
        ngf: int = 64,
        norm: str = "batch",
        num_classes: int = 0,
        embed_dim: int = 32,
    ) -> None:
        super().__init__()
        base, k = dcgan_layout(image_size)
        # nets.capabilities.DrawsFromNoise: a latent is one z.
        self.z_dim = self.latent_size = z_dim
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        widths = [ngf * 2**i for i in reversed(range(k))]  # ..., 4ngf, 2ngf, ngf
        in_dim = z_dim + (embed_dim if num_classes else 0)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, widths[0], base, 1, 0, bias=bias),
            norm_layer(norm, widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in pairwise(widths):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=bias),
                norm_layer(norm, w_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels (N,)")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Images (N, channels, S, S) [+ labels (N,)] -> logits (N,), unbounded.

    Args:
        image_size: S, see :func:`dcgan_layout`.
        channels: image channels.
        ndf: width of the first conv; each later one doubles it.
        norm: after every conv but the first ("batch" in the paper; "none" for WGAN-GP
            and spectral norm).
        spectral_norm: wrap every conv and linear layer (Miyato et al. 2018).
        num_classes: > 0 makes it class-conditional: ``forward(x, labels)``.
        conditioning: "projection" or "concat", see the module docstring.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        ndf: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
        num_classes: int = 0,
        conditioning: str = "projection",
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning={conditioning!r}; choose one of {CONDITIONINGS}")
        base, k = dcgan_layout(image_size)
        self.channels = channels
        self.num_classes = num_classes
        self.projection = bool(num_classes) and conditioning == "projection"
        in_channels = channels + (num_classes if num_classes and not self.projection else 0)
        widths = [ndf * 2**i for i in range(k)]
        self.features = downsampling_body(in_channels, widths, norm)
        self.head = nn.Conv2d(widths[-1], 1, base, 1, 0)
        self.label_embed = (
            nn.Linear(num_classes, widths[-1], bias=False) if self.projection else None
        )
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if not self.num_classes:
            return self.head(self.features(x)).flatten()
        if labels is None:
            raise ValueError("this discriminator is class-conditional: pass labels (N,)")
        if not self.projection:
            return self.head(self.features(with_label_maps(x, labels, self.num_classes))).flatten()
        h = self.features(x)
        one_hot = F.one_hot(labels, self.num_classes).to(h.dtype)
        projection = (self.label_embed(one_hot) * h.sum(dim=(2, 3))).sum(dim=1)
        return self.head(h).flatten() + projection
