"""A StyleGAN2-style generator (Karras et al. 2020), after NVlabs/stylegan2-ada-pytorch
``training/networks.py``: a mapping network z -> w, and a synthesis network that starts
from a learned constant and is steered by w through modulated, demodulated convolutions,
with per-pixel noise of learned strength and the "skip" output (an RGB image at every
resolution, upsampled and summed).

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
DCGAN generator's (``ngf * 2**i``) instead of ``channel_base / resolution``; upsampling is
bilinear before a modulated 3x3 convolution instead of a transposed convolution with the
[1, 3, 3, 1] FIR filter; no clamping of activations (no fp16 in the reference's sense);
no class conditioning. Sizes are ``base * 2**k`` as for DCGAN (28 = 7 * 4, 32 = 4 * 8).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.dcgan import dcgan_layout

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
