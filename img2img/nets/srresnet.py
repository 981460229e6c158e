"""SRResNet generator and the SRGAN discriminator (Ledig et al., CVPR 2017).

The generator works at low resolution throughout and upsamples only at the end, with
sub-pixel convolutions (PixelShuffle, Shi et al. 2016): each x2 stage is a convolution to
4x the channels rearranged into a 2x larger map. That keeps the cost of the 16 residual
blocks at LR size and avoids the checkerboard artefacts of transposed convolutions.

The discriminator is the paper's VGG-style stack of 3x3 convolutions, strided every other
layer, ending in two dense layers. The paper's head flattens a fixed 6x6x512 map (96x96
crops); an adaptive average pool to 6x6 before it keeps that head for 96 px crops exactly
(the pool is the identity there) and lets the same network judge other crop sizes.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

SCALES = (2, 4, 8)


class ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN plus the input (the paper's Figure 4 block, after Gross and Wilber)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """LR image (N, 3, h, w) in [-1, 1] -> SR image (N, 3, scale h, scale w) in [-1, 1].

    ``scale`` is 2, 4 or 8 (log2(scale) PixelShuffle x2 stages); ``blocks`` residual blocks
    of ``channels`` filters (paper: 16 and 64); a global skip adds the first layer's features
    to the output of the residual trunk. The output has no tanh, as in the paper's SRResNet:
    a clamp at inference (8-bit rounding) bounds it, and a tanh would slow the learning of
    the saturated colours. Any input size works (``size_multiple = 1``).

    ``bicubic_residual`` (not in the paper; VDSR's global residual learning, Kim et al. 2016)
    adds the bicubic upsampling of the input to the output, and the last layer starts at
    zero: the untrained network *is* bicubic and training learns only the missing detail.
    The paper's network needs ~10^5 steps to overtake bicubic; this one does from its first
    steps, which is what makes training on a CPU budget worth it.
    """

    size_multiple = 1
    in_channels = 3  # RGB in (img2img.nets.capabilities.ImageToImage; scale set per model)

    def __init__(
        self, scale: int = 4, blocks: int = 16, channels: int = 64, bicubic_residual: bool = False
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale={scale}: SRResNet upsamples by 2, 4 or 8")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.trunk = nn.Sequential(
            *(ResidualBlock(channels) for _ in range(blocks)),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        upsample: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            upsample += [
                nn.Conv2d(channels, 4 * channels, 3, padding=1),
                nn.PixelShuffle(2),
                nn.PReLU(channels),
            ]
        self.upsample = nn.Sequential(*upsample)
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)
        self.bicubic_residual = bicubic_residual
        if bicubic_residual:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)
        output = self.tail(self.upsample(features + self.trunk(features)))
        if self.bicubic_residual:
            output = output + F.interpolate(x, scale_factor=self.scale, mode="bicubic")
        return output


def _conv_block(in_channels: int, out_channels: int, stride: int, norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return [*layers, nn.LeakyReLU(0.2, inplace=True)]


class SRGANDiscriminator(nn.Module):
    """(N, 3, H, W) HR crop -> (N,) logits (real > 0).

    Eight 3x3 convolutions with 64, 64, 128, 128, 256, 256, 512, 512 filters (times
    ``channels / 64``), stride 2 on every second one, BN after all but the first,
    LeakyReLU 0.2; then adaptive average pooling to 6x6 (the map a 96 px crop gives), a
    1024-unit dense layer and the logit. No sigmoid: the objectives take logits.
    """

    def __init__(self, channels: int = 64, pooled: int = 6) -> None:
        super().__init__()
        widths = [channels * 2 ** (i // 2) for i in range(8)]
        layers = _conv_block(3, widths[0], 1, norm=False)
        for i in range(1, 8):
            layers += _conv_block(widths[i - 1], widths[i], 2 if i % 2 else 1, norm=True)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pooled))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * pooled * pooled, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).flatten()
