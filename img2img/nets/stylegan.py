"""A StyleGAN2-style generator and discriminator (Karras et al. 2020), after
NVlabs/stylegan2-ada-pytorch ``training/networks.py``. The generator: a mapping network
z -> w, and a synthesis network that starts from a learned constant and is steered by w
through modulated, demodulated convolutions, with per-pixel noise of learned strength and
the "skip" output (an RGB image at every resolution, upsampled and summed). The
discriminator (:class:`StyleDiscriminator`): the reference's residual one, on ProGAN's
equalized layers and minibatch standard deviation (:mod:`img2img.nets.progan`).

- **Equalized learning rate** (:class:`EqualLinear`, :class:`ModulatedConv2d`): weights are
  stored ~ N(0, 1) / lr_multiplier and scaled at run time by lr_multiplier / sqrt(fan_in),
  so Adam's step is the same size relative to every layer's weights; the mapping network
  uses lr_multiplier 0.01 (it learns 100x slower, as in the reference).
- **Modulation / demodulation**: each input channel's weights are scaled by a style (an
  affine map of w), then each output channel's weights are divided by their norm, so a
  unit-variance input gives a unit-variance output whatever the style: the statistics
  AdaIN normalised away are now removed from the weights, and the "droplet" artefacts of
  StyleGAN go with them.
- **w_avg**: the running mean of w (beta 0.995, updated only when the training step asks),
  the centre of the truncation trick ``w = w_avg + psi (w - w_avg)``.

Departures from the reference, for CPU budgets and 28-64 px images: widths follow the
DCGAN networks' (``ngf * 2**i``, ``ndf * 2**i``) instead of ``channel_base / resolution``;
the generator upsamples bilinearly before a modulated 3x3 convolution instead of a
transposed convolution with the [1, 3, 3, 1] FIR filter (the discriminator does downsample
with that filter); no clamping of activations (no fp16 in the reference's sense); no class
conditioning. Sizes are ``base * 2**k`` as for DCGAN (28 = 7 * 4, 32 = 4 * 8): the
discriminator's last block works at ``base`` x ``base`` (the reference's at 4 x 4).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.dcgan import dcgan_layout
from img2img.nets.progan import EqualizedConv2d, EqualizedLinear, minibatch_stddev

LRELU_GAIN = math.sqrt(2.0)  # keeps the variance of leaky-ReLU(0.2) outputs ~ their input's


class EqualLinear(nn.Module):
    """A linear layer with equalized learning rate: ``x @ (W * gain).T + b * lr_multiplier``
    with ``gain = lr_multiplier / sqrt(in_features)``; ``activation`` "lrelu" multiplies the
    leaky ReLU by sqrt(2). ``bias_init`` 1 makes a style layer start at the identity."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
        activation: str = "linear",
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation == "lrelu" else x


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim): z normalised to unit second moment, then ``layers``
    equalized-lr fully connected layers with leaky ReLU (the reference's 8 use lr 0.01x)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 8, lr_multiplier: float = 0.01):
        super().__init__()
        widths = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(
            *(
                EqualLinear(a, b, lr_multiplier=lr_multiplier, activation="lrelu")
                for a, b in pairwise(widths)
            )
        )

    def forward(self, z: Tensor) -> Tensor:
        z = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        return self.net(z)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True) -> Tensor:
    """Convolve each sample of ``x`` (N, I, H, W) with ``weight`` (O, I, k, k) modulated by
    its own ``styles`` (N, I) and, with ``demodulate``, divided per output channel by
    ``sqrt(sum (w * s)^2 + 1e-8)``; 'same' padding.

    Computed as the reference's non-fused path: scaling the input channels by the styles,
    one ordinary convolution with the shared weight, then the per-sample demodulation
    factors on the output, which equals convolving with per-sample weights but needs no
    grouped convolution (whose group count, the batch size, exporters would freeze)."""
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
    if demodulate:
        # sum over (i, k) of (w_oik s_ni)^2 = s^2 @ (sum_k w^2)^T: (N, O)
        norms = styles.square() @ weight.square().sum(dim=(2, 3)).T
        out = out * (norms + 1e-8).rsqrt()[:, :, None, None]
    return out


class ModulatedConv2d(nn.Module):
    """One synthesis layer: style from w, modulated conv (equalized lr), optional 2x
    upsampling before it, per-pixel noise times a learned strength (initially 0), bias and
    leaky ReLU * sqrt(2). ``resolution`` sizes the fixed noise used in eval mode."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.up = up

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w))
        # Random noise while training, the fixed buffer otherwise (the reference's
        # noise_mode="const" for generation), so sampling consumes no RNG.
        if self.training:
            noise = torch.randn(len(x), 1, *x.shape[-2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        x = x + noise * self.noise_strength + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * LRELU_GAIN


class ToRGB(nn.Module):
    """1x1 modulated conv to image channels, without demodulation (the reference's)."""

    def __init__(self, in_channels: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        out = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return out + self.bias[None, :, None, None]


class StyleGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, S, S), roughly in [-1, 1] (no tanh, as in the
    reference).

    ``num_ws`` per-layer w inputs: one per modulated conv plus the last ToRGB; each ToRGB
    shares its w with the next block's first conv, as in the reference. Coarse styles
    (low indices) set pose and shape, fine ones texture and colour.

    Args:
        z_dim, w_dim: latent sizes (512 in the reference; small here for CPUs).
        image_size: S = base * 2**k (see :func:`img2img.nets.dcgan.dcgan_layout`).
        channels: image channels.
        ngf: width of the last block; each coarser block doubles it.
        mapping_layers: depth of the mapping network (8 in the reference).
        mapping_lr: the mapping network's learning-rate multiplier (0.01).
        w_avg_beta: decay of the tracked mean w (0.995).
    """

    def __init__(
        self,
        z_dim: int = 128,
        w_dim: int = 128,
        image_size: int = 32,
        channels: int = 3,
        ngf: int = 64,
        mapping_layers: int = 8,
        mapping_lr: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        base, k = dcgan_layout(image_size)
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        self.latent_size, self.num_classes = z_dim, 0  # nets.capabilities.DrawsFromNoise
        widths = [ngf * 2**i for i in reversed(range(k))]  # coarse (wide) to fine (ngf)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.const = nn.Parameter(torch.randn(widths[0], base, base))
        self.convs = nn.ModuleList([ModulatedConv2d(widths[0], widths[0], w_dim, base)])
        self.to_rgbs = nn.ModuleList([ToRGB(widths[0], channels, w_dim)])
        resolution, width = base, widths[0]
        for out_width in widths:
            resolution *= 2
            self.convs.append(ModulatedConv2d(width, out_width, w_dim, resolution, up=True))
            self.convs.append(ModulatedConv2d(out_width, out_width, w_dim, resolution))
            self.to_rgbs.append(ToRGB(out_width, channels, w_dim))
            width = out_width
        self.num_ws = len(self.convs) + 1

    def map(self, z: Tensor, truncation: float = 1.0, update_mean: bool = False) -> Tensor:
        """w (N, w_dim) for z; ``update_mean`` moves ``w_avg`` towards this batch's mean (the
        training step's forward only); ``truncation`` psi < 1 pulls w towards ``w_avg``."""
        w = self.mapping(z)
        if update_mean:
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1:
            w = self.w_avg.lerp(w, truncation)
        return w

    def synthesis(self, ws: Tensor) -> Tensor:
        """ws (N, num_ws, w_dim), one w per layer -> images (N, channels, S, S)."""
        # (1, C, b, b): the first modulation broadcasts it over the batch (no batch size
        # is read here, so exported graphs keep a dynamic one).
        x = self.convs[0](self.const[None], ws[:, 0])
        image = self.to_rgbs[0](x, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            x = self.convs[2 * i + 1](x, ws[:, 2 * i + 1])
            x = self.convs[2 * i + 2](x, ws[:, 2 * i + 2])
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = image + to_rgb(x, ws[:, 2 * i + 3])
        return image

    def broadcast(self, w: Tensor) -> Tensor:
        """w (N, w_dim) -> the same w for every layer (N, num_ws, w_dim)."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: Tensor, labels: Tensor | None = None, truncation: float = 1.0) -> Tensor:
        if labels is not None:
            raise ValueError("the style generator is unconditional: pass no labels")
        return self.synthesis(self.broadcast(self.map(z, truncation)))


class Truncated(nn.Module):
    """``generator`` with its w pulled towards the tracked mean by ``psi`` (the truncation
    trick) as a plain ``forward(z, labels=None)``, for exporters and engines that pass
    tensors only."""

    def __init__(self, generator: nn.Module, psi: float) -> None:
        super().__init__()
        self.generator, self.psi = generator, psi

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z, labels, truncation=self.psi)


def mix_styles(ws: Tensor, other: Tensor, cutoff: int) -> Tensor:
    """``ws`` (N, num_ws, w_dim) with layers ``cutoff`` and above taken from ``other``: the
    coarse styles of one latent, the fine styles of another (style mixing)."""
    mixed = ws.clone()
    mixed[:, cutoff:] = other[:, cutoff:]
    return mixed


# The reference's resampling filter [1, 3, 3, 1] (outer product, normalised to sum 1).
_FIR = torch.tensor([1.0, 3.0, 3.0, 1.0])
FIR_FILTER = torch.outer(_FIR, _FIR) / _FIR.sum() ** 2


def blur(x: Tensor, pad: int, stride: int = 1) -> Tensor:
    """``x`` (N, C, H, W) filtered per channel with :data:`FIR_FILTER` after zero-padding
    ``pad`` on every side, keeping every ``stride``-th output (stylegan2-ada-pytorch's
    ``upfirdn2d`` with ``down=stride``)."""
    weight = FIR_FILTER.to(x)[None, None].expand(x.shape[1], 1, 4, 4)
    return F.conv2d(F.pad(x, (pad,) * 4), weight, stride=stride, groups=x.shape[1])


class DownBlock(nn.Module):
    """One residual block of the discriminator at resolution r: two 3x3 equalized convs
    (leaky ReLU x sqrt(2)), the second halving the image, beside a 1x1 linear skip that
    halves it too, summed with gains sqrt(0.5) each (the reference's ``architecture=
    'resnet'``). Halving is the reference's: the [1, 3, 3, 1] blur padded by 2, then a
    stride-2 3x3 conv; the skip blurs with stride 2, then its 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # gain 1: the reference's weight gain 1/sqrt(fan_in); sqrt(2) follows the activation.
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3, gain=1.0)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, gain=1.0, stride=2, padding=0)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, gain=1.0, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(blur(x, pad=1, stride=2))
        x = F.leaky_relu(self.conv0(x), 0.2) * LRELU_GAIN
        x = F.leaky_relu(self.conv1(blur(x, pad=2)), 0.2) * LRELU_GAIN
        return (skip + x) * math.sqrt(0.5)


class StyleDiscriminator(nn.Module):
    """Images (N, channels, S, S) -> logits (N,): StyleGAN2's residual discriminator.

    A 1x1 from-RGB conv at full size, one :class:`DownBlock` per halving down to ``base``
    x ``base`` (:func:`~img2img.nets.dcgan.dcgan_layout`), then the reference's epilogue:
    the minibatch standard deviation channel (groups of ``group_size``, one channel), a 3x3
    conv, a dense layer and the linear output. Every layer has the equalized learning rate
    (weights ~ N(0, 1) scaled at run time), which the reference's Adam 0.0025 is tuned for:
    a step moves each weight by about 0.25% of its size, where N(0, 0.02) DCGAN weights
    would move by ~12%. Widths mirror the style generator's: ``ndf`` at full size, doubling
    per halving, the last block's kept at ``base``. The batch must be a multiple of
    ``group_size`` or smaller than it.
    """

    def __init__(
        self, image_size: int = 32, channels: int = 3, ndf: int = 64, group_size: int = 4
    ) -> None:
        super().__init__()
        base, k = dcgan_layout(image_size)
        widths = [ndf * 2 ** min(i, k - 1) for i in range(k + 1)]  # full size ... base
        self.group_size = group_size
        self.from_rgb = EqualizedConv2d(channels, widths[0], 1, gain=1.0)
        self.blocks = nn.ModuleList(DownBlock(a, b) for a, b in pairwise(widths))
        width = widths[-1]
        self.conv = EqualizedConv2d(width + 1, width, 3, gain=1.0)
        self.dense = EqualizedLinear(width * base * base, width, gain=1.0)
        self.out = EqualizedLinear(width, 1, gain=1.0)

    def forward(self, images: Tensor) -> Tensor:
        x = F.leaky_relu(self.from_rgb(images), 0.2) * LRELU_GAIN
        for block in self.blocks:
            x = block(x)
        x = minibatch_stddev(x, self.group_size)
        x = F.leaky_relu(self.conv(x), 0.2) * LRELU_GAIN
        x = F.leaky_relu(self.dense(x.flatten(1)), 0.2) * LRELU_GAIN
        return self.out(x).flatten()
