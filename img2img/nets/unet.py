"""The pix2pix U-Net generator (Isola et al., 2017).

An encoder halves the image ``num_downs`` times down to 1x1 (for the paper's 256x256,
8 times); a mirrored decoder doubles it back, and each decoder stage also sees the
encoder features of the same resolution (skip connections), so low-level detail such as
edges need not squeeze through the bottleneck.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from img2img.nets.blocks import conv_bias, norm_layer, require_multiple


def unet_depth_for(image_size: int) -> int:
    """Number of downsamplings that take an ``image_size`` square image to 1x1.

    256 -> 8, 128 -> 7, 64 -> 6. ``image_size`` must be a power of two >= 2.
    """
    if image_size < 2 or image_size & (image_size - 1):
        raise ValueError(
            f"unet_depth_for({image_size}): the U-Net halves the image down to 1x1, so the "
            "size must be a power of two such as 64, 128 or 256; crop or resize to one"
        )
    return int(math.log2(image_size))


def _down(in_ch: int, out_ch: int, norm: str, outermost: bool, innermost: bool) -> nn.Sequential:
    """One encoder stage: [LeakyReLU] -> 4x4 stride-2 conv -> [norm].

    The activation comes *before* the conv so that the skip connection carries the
    pre-activation features, as in the reference code; the image itself is not activated.
    The first stage has no norm (the paper's choice), nor does the bottleneck: at 1x1 and
    batch size 1 there is one value per channel, which any normalisation would zero.
    """
    use_norm = not (outermost or innermost)
    layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=not use_norm or conv_bias(norm)))
    if use_norm:
        layers.append(norm_layer(norm, out_ch))
    return nn.Sequential(*layers)


def _up(in_ch: int, out_ch: int, norm: str, outermost: bool, dropout: float) -> nn.Sequential:
    """One decoder stage: ReLU -> 4x4 stride-2 transposed conv -> norm [-> dropout],
    or -> Tanh for the output stage."""
    layers: list[nn.Module] = [nn.ReLU()]
    if outermost:
        layers += [nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1), nn.Tanh()]
    else:
        layers += [
            nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=conv_bias(norm)),
            norm_layer(norm, out_ch),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """pix2pix U-Net: (N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1].

    H and W must be multiples of ``size_multiple`` (2 ** num_downs). Encoder widths are
    ngf, 2ngf, 4ngf, then 8ngf for every further stage (C64-C128-C256-C512-C512-C512-
    C512-C512 for ngf=64, num_downs=8); the decoder mirrors them, its input at each level
    being the previous decoder output concatenated with the encoder features.

    Args:
        in_channels, out_channels: image channels on each side.
        ngf: width of the first encoder stage.
        num_downs: number of stride-2 stages; use ``unet_depth_for(image_size)`` to reach
            a 1x1 bottleneck as in the paper.
        norm: one of ``NORMS`` ("batch" in the paper).
        dropout: dropout rate on the three decoder stages after the bottleneck stage, after
            their normalisation (the paper's "CD512" stages: Convolution-BatchNorm-Dropout,
            then ReLU; ReLU and dropout commute, so the reference code's order, ReLU first
            in the next stage, is the same function). The paper keeps dropout on at test
            time as its only noise source; img2img's inference runs the network in eval
            mode, so dropout is off there and the output is deterministic (see
            :mod:`img2img.nets.batchnorm` for the normalisation at inference).
    """

    scale = 1  # translation keeps the size (img2img.nets.capabilities.ImageToImage)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        num_downs: int = 8,
        norm: str = "batch",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(
                f"UNet: num_downs must be >= 2 (one skip connection at least), got {num_downs}"
            )
        self.size_multiple = 2**num_downs
        self.in_channels = in_channels  # what inference converts its input to (1: luma)
        widths = [ngf * min(2**level, 8) for level in range(num_downs)]
        innermost = num_downs - 1
        # The released code puts dropout on the decoder stages of the three levels just
        # above the bottleneck (not on the bottleneck's own up-convolution).
        dropout_levels = range(max(1, innermost - 3), innermost)

        self.encoder = nn.ModuleList(
            _down(
                in_channels if level == 0 else widths[level - 1],
                widths[level],
                norm,
                outermost=level == 0,
                innermost=level == innermost,
            )
            for level in range(num_downs)
        )
        # Ordered as they run: from the bottleneck outwards.
        self.decoder = nn.ModuleList(
            _up(
                widths[level] * (1 if level == innermost else 2),
                out_channels if level == 0 else widths[level - 1],
                norm,
                outermost=level == 0,
                dropout=dropout if level in dropout_levels else 0.0,
            )
            for level in reversed(range(num_downs))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_multiple(x, self.size_multiple, "UNet")
        features = []
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        x = features.pop()
        for stage in self.decoder[:-1]:
            x = torch.cat([features.pop(), stage(x)], dim=1)
        return self.decoder[-1](x)
