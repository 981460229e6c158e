"""Progressive growing of GANs (Karras et al. 2018): networks that grow from 4x4 to the
image size, following the reference code (tkarras/progressive_growing_of_gans, networks.py).

Both networks are built at full size from the start; a *level of detail* held as module
state (the buffer ``lod``, as the reference holds a ``lod`` variable in each network) says
how much of them runs. ``lod`` counts halvings below the image size: with K = log2(S / 4)
levels above 4x4, ``lod = K`` is 4x4 only and ``lod = 0`` the full image. A fractional
``lod`` is a fade-in: level ``k = K - floor(lod)`` is blended with the level below it with
weight ``alpha = 1 - frac(lod)`` (:func:`level_and_alpha`). The networks' inputs and outputs
are always S x S, as in the reference: the generator upsamples its current output by
nearest neighbour, the discriminator box-downsamples its input to the current resolution,
so sampling, FID and the gradient penalty see the same sizes at every level.

The paper's three tricks are here: the equalized learning rate (weights ~ N(0, 1), scaled at
run time by the He constant ``gain / sqrt(fan_in)``: :class:`EqualizedConv2d`,
:class:`EqualizedLinear`), pixel-wise feature normalisation in the generator
(:func:`pixel_norm`) and the minibatch standard deviation channel before the
discriminator's last block (:func:`minibatch_stddev`).

The reference's default ``fused_scale=True`` fuses resampling into one convolution at every
size; here they are separate layers computing the same functions: the generator's nearest
upsampling then 3x3 conv is the reference's transposed convolution with the 3x3 kernel
padded and summed over its four shifts, and the discriminator's second 3x3 conv, then 2x2
average pooling, then the activation is its stride-2 convolution with the padded kernel's
four-shift average, bias and activation after (``conv2d_downscale2d``); a test checks both.
(The reference's ``fused_scale=False`` order, activation before pooling, is another
function.) Departure: no label input (the reference's AC-GAN head is unused in its
unconditional configurations).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def level_and_alpha(lod: float, top: int) -> tuple[int, float]:
    """``(level, alpha)`` for a level of detail ``lod`` in [0, ``top``]: the highest level
    running (0 is 4x4, ``top`` the image size) and the weight of its output against the
    upsampled output of the level below (1: stable, in (0, 1): fading in)."""
    lod = min(max(float(lod), 0.0), float(top))
    below = math.floor(lod)
    return top - below, 1.0 - (lod - below)


def feature_maps(stage: int, fmap_base: int, fmap_max: int) -> int:
    """Channels at ``stage`` (the reference's ``nf``, fmap_decay 1): ``fmap_base / 2**stage``
    capped at ``fmap_max``. Stage 1 is the 4x4 level, stage s the 2**(s+1) one."""
    return min(fmap_base // 2**stage, fmap_max)


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Each pixel's feature vector scaled to unit root-mean-square over the channels (the
    paper's section 4.2): keeps G's signal magnitudes from escalating under competition."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: Tensor, group_size: int = 4) -> Tensor:
    """Append one channel: the standard deviation of each feature over a group of samples,
    averaged over features and pixels (the paper's section 3), so D can tell a batch short
    of variety. Sample ``i`` belongs to group ``i % (N / G)``, as in the reference; the
    batch size must be a multiple of the group size (or smaller than it)."""
    n, c, h, w = x.shape
    group = min(group_size, n)
    if n % group:
        raise ValueError(f"minibatch stddev: batch of {n} is not a multiple of group {group}")
    y = x.reshape(group, -1, c, h, w).float()
    y = (y - y.mean(dim=0, keepdim=True)).pow(2).mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=(1, 2, 3)).to(x.dtype)  # one value per group
    y = y.reshape(1, -1, 1, 1, 1).expand(group, -1, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, y], dim=1)


def upscale(x: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour upsampling by a whole ``factor`` (the reference's ``upscale2d``)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downscale(x: Tensor, factor: int) -> Tensor:
    """Box-filter downsampling by a whole ``factor`` (the reference's ``downscale2d``)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


class EqualizedLinear(nn.Module):
    """A linear layer with the equalized learning rate: the stored weight is N(0, 1) and is
    multiplied by ``scale = gain / sqrt(fan_in)`` (He's constant) at every call, so Adam's
    scale-free updates change every layer at the same relative rate (section 4.1)."""

    def __init__(
        self, in_features: int, out_features: int, gain: float = math.sqrt(2), bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A convolution with the equalized learning rate (see :class:`EqualizedLinear`);
    ``fan_in = in_channels * kernel**2``. Same-padded by default; ``stride`` and ``padding``
    serve the StyleGAN2 discriminator's blur-then-strided convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        gain: float = math.sqrt(2),
        bias: bool = True,
        stride: int = 1,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)
        self.stride = stride
        self.padding = kernel // 2 if padding is None else padding

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self.scale
        return F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def levels_for(image_size: int) -> int:
    """K, the levels above 4x4, for a power-of-two ``image_size`` >= 4 (32 px: K = 3)."""
    if image_size < 4 or image_size & (image_size - 1):
        raise ValueError(
            f"progressive growing: image_size={image_size} must be a power of two >= 4 "
            "(the networks double from 4x4); use 32 for MNIST (padded) or CIFAR-10"
        )
    return int(math.log2(image_size)) - 2


class _Growing(nn.Module):
    """The level of detail both networks hold (see the module docstring)."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.top = levels_for(image_size)
        # Saved with the weights, so a model file says the resolution it reached.
        self.register_buffer("lod", torch.tensor(float(self.top)))

    def set_lod(self, lod: float) -> None:
        self.lod.fill_(min(max(float(lod), 0.0), float(self.top)))

    @property
    def level_alpha(self) -> tuple[int, float]:
        return level_and_alpha(float(self.lod), self.top)

    @property
    def resolution(self) -> int:
        """The side of the highest level running (its output is then upsampled)."""
        return 4 * 2 ** self.level_alpha[0]

    def growth(self) -> str:
        """Where the network stands, e.g. ``16x16 of 32x32, fading in (alpha 0.40)``."""
        side, alpha = self.resolution, self.level_alpha[1]
        fading = f", fading in (alpha {alpha:.2f})" if alpha < 1 else ""
        return f"{side}x{side} of {self.image_size}x{self.image_size}{fading}"


class ProGANGenerator(_Growing):
    """z (N, z_dim) -> images (N, channels, S, S), linear output (no tanh, as the reference).

    Args:
        z_dim: latent size (the reference: ``nf(0)``, 512).
        image_size: S, a power of two >= 4.
        channels: output channels.
        fmap_base, fmap_max: widths, see :func:`feature_maps` (reference 8192, 512).
    """

    def __init__(
        self,
        z_dim: int = 512,
        image_size: int = 32,
        channels: int = 3,
        fmap_base: int = 8192,
        fmap_max: int = 512,
    ) -> None:
        super().__init__(image_size)
        self.z_dim = self.latent_size = z_dim  # nets.capabilities.DrawsFromNoise
        self.num_classes = 0
        width = [feature_maps(level + 1, fmap_base, fmap_max) for level in range(self.top + 1)]
        # 4x4: a dense layer to 4x4 maps (gain sqrt(2)/4, the reference's Theano match), a conv.
        self.dense = EqualizedLinear(z_dim, width[0] * 16, gain=math.sqrt(2) / 4, bias=False)
        self.dense_bias = nn.Parameter(torch.zeros(width[0]))
        self.blocks = nn.ModuleList([EqualizedConv2d(width[0], width[0], 3)])
        for level in range(1, self.top + 1):  # upsample, two 3x3 convs
            self.blocks.append(
                nn.Sequential(
                    EqualizedConv2d(width[level - 1], width[level], 3),
                    EqualizedConv2d(width[level], width[level], 3),
                )
            )
        self.to_rgb = nn.ModuleList([EqualizedConv2d(w, channels, 1, gain=1.0) for w in width])

    def _block(self, x: Tensor, level: int) -> Tensor:
        if level == 0:
            # -1 for the batch, not len(x): an exported graph keeps its batch dimension free.
            x = self.dense(pixel_norm(x)).reshape(-1, len(self.dense_bias), 4, 4)
            x = pixel_norm(_act(x + self.dense_bias[None, :, None, None]))
            return pixel_norm(_act(self.blocks[0](x)))
        x = upscale(x, 2)
        for conv in self.blocks[level]:
            x = pixel_norm(_act(conv(x)))
        return x

    def synthesize(self, z: Tensor, level: int, alpha: float) -> Tensor:
        """Images at the resolution of ``level`` (4 * 2**level), blended with the upsampled
        output of ``level - 1`` by ``alpha`` (the fade-in; 1: the new level alone)."""
        x = z
        for k in range(level):
            x = self._block(x, k)
        previous = x
        image = self.to_rgb[level](self._block(x, level))
        if level > 0 and alpha < 1.0:
            # torch.lerp returns its start exactly at weight 0: alpha = 0 is the old network.
            image = torch.lerp(upscale(self.to_rgb[level - 1](previous), 2), image, alpha)
        return image

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            raise ValueError("this generator is unconditional: pass no labels")
        level, alpha = self.level_alpha
        return upscale(self.synthesize(z, level, alpha), 2 ** (self.top - level))


class ProGANDiscriminator(_Growing):
    """Images (N, channels, S, S) -> scores (N,), unbounded (a WGAN critic).

    Args:
        image_size, channels, fmap_base, fmap_max: as :class:`ProGANGenerator`.
        group_size: minibatch-stddev group (reference 4; 0 or 1: no stddev channel).
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        fmap_base: int = 8192,
        fmap_max: int = 512,
        group_size: int = 4,
    ) -> None:
        super().__init__(image_size)
        self.group_size = group_size
        # Level k reads 4 * 2**k px with nf(k + 1) channels and hands level k - 1 nf(k).
        width = [feature_maps(level + 1, fmap_base, fmap_max) for level in range(self.top + 1)]
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, w, 1) for w in width])
        stddev = 1 if group_size > 1 else 0
        self.blocks = nn.ModuleList(
            [
                nn.ModuleList(
                    [
                        EqualizedConv2d(width[0] + stddev, width[0], 3),
                        EqualizedLinear(width[0] * 16, feature_maps(0, fmap_base, fmap_max)),
                        EqualizedLinear(feature_maps(0, fmap_base, fmap_max), 1, gain=1.0),
                    ]
                )
            ]
        )
        for level in range(1, self.top + 1):  # two 3x3 convs, downsample
            self.blocks.append(
                nn.ModuleList(
                    [
                        EqualizedConv2d(width[level], width[level], 3),
                        EqualizedConv2d(width[level], width[level - 1], 3),
                    ]
                )
            )

    def _block(self, x: Tensor, level: int) -> Tensor:
        if level == 0:
            if self.group_size > 1:
                x = minibatch_stddev(x, self.group_size)
            conv, dense, out = self.blocks[0]
            x = _act(dense(_act(conv(x)).flatten(1)))
            return out(x).flatten()
        conv0, conv1 = self.blocks[level]
        # Pooling before the activation: the reference's fused conv2d_downscale2d (a bias
        # is constant over each 2x2 window, so adding it before the pooling is the same).
        return _act(downscale(conv1(_act(conv0(x))), 2))

    def judge(self, images: Tensor, level: int, alpha: float) -> Tensor:
        """Scores of ``images`` (at the resolution of ``level``, or larger: box-downsampled
        to it) as the networks stand at ``level`` with fade-in weight ``alpha``."""
        factor = images.shape[-1] // (4 * 2**level)
        x = self._block(_act(self.from_rgb[level](downscale(images, factor))), level)
        if level > 0 and alpha < 1.0:
            low = _act(self.from_rgb[level - 1](downscale(images, 2 * factor)))
            x = torch.lerp(low, x, alpha)
        for k in reversed(range(level)):
            x = self._block(x, k)
        return x

    def forward(self, images: Tensor) -> Tensor:
        return self.judge(images, *self.level_alpha)
