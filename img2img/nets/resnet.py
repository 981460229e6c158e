"""The ResNet generator of Johnson et al. (2016), as used by CycleGAN (Zhu et al., 2017).

Two stride-2 convolutions reduce the image by 4, a stack of residual blocks transforms
it at that resolution, and two transposed convolutions bring it back. Unlike the U-Net it
has no skip connections across scales, which suits translations that change shape or
texture everywhere (horse <-> zebra) rather than keep the layout pixel for pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from img2img.nets.batchnorm import PerImageNorm
from img2img.nets.blocks import conv_bias, norm_layer, require_multiple

PADDINGS: tuple[str, ...] = ("reflect", "replicate", "zeros")


class ResidualBlock(nn.Module):
    """x + (conv3x3 -> norm -> ReLU [-> dropout] -> conv3x3 -> norm)(x); shape preserved.

    Reflection padding (the default) avoids the border artefacts that zero padding
    builds up over the many same-resolution convolutions (Johnson et al.).
    """

    def __init__(self, channels: int, norm: str, dropout: float, padding: str) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding, bias=bias),
            norm_layer(norm, channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """CycleGAN generator: (N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1].

    H and W must be multiples of ``size_multiple`` (2 ** n_downsampling: 4). Layers for
    ngf=64, n_blocks=9 (the paper's 256x256 model): c7s1-64, d128, d256, R256 x 9, u128,
    u64, c7s1-3. With ``n_downsampling=4`` it is pix2pixHD's global generator G1
    (c7s1-64, d128, d256, d512, d1024, R1024 x 9, u512, u256, u128, u64, c7s1-3).

    An image too small for the downsamplings is refused with the smallest size that works:
    reflection padding of the residual blocks needs two positions on each side there
    (H, W >= 2 * size_multiple), and per-image normalisation (instance norm, or batch norm
    evaluated per image) more than one position in all.

    Args:
        in_channels, out_channels: image channels on each side.
        ngf: width of the first convolution; the residual blocks run at 4 * ngf.
        n_blocks: residual blocks (9 for 256x256 images, 6 for 128x128 in the paper).
        norm: one of ``NORMS`` ("instance" in the paper).
        dropout: dropout rate inside each residual block (0 in CycleGAN).
        padding: padding of the 7x7 and residual convolutions, one of ``PADDINGS``;
            the strided convolutions always zero-pad, as in the reference code.
        n_downsampling: stride-2 convolutions before the residual blocks (and transposed
            ones after); the blocks run at ``ngf * 2 ** n_downsampling`` channels.
    """

    size_multiple = 4
    scale = 1  # translation keeps the size (img2img.nets.capabilities.ImageToImage)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: float = 0.0,
        padding: str = "reflect",
        n_downsampling: int = 2,
    ) -> None:
        super().__init__()
        self.size_multiple = 2**n_downsampling
        if padding not in PADDINGS:
            raise ValueError(
                f"ResNetGenerator: unknown padding {padding!r}; valid: {', '.join(PADDINGS)}"
            )
        self.in_channels = in_channels  # what inference converts its input to (1: luma)
        self.padding = padding
        # nets.capabilities.HasMinimumSize: two positions a side for reflection padding and
        # per-image normalisation at the residual blocks (see _too_small).
        per_image = padding == "reflect" or norm == "instance"
        self.min_size = self.size_multiple * (2 if per_image else 1)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ngf, 7, padding=3, padding_mode=padding, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(),
        ]
        widths = [ngf * 2**i for i in range(n_downsampling)]
        for width in widths:
            layers += [
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, 2 * width),
                nn.ReLU(),
            ]
        bottom = ngf * 2**n_downsampling
        layers += [ResidualBlock(bottom, norm, dropout, padding) for _ in range(n_blocks)]
        for width in [2 * width for width in reversed(widths)]:
            # output_padding=1 makes each upsampling exactly undo a stride-2 downsampling.
            layers += [
                nn.ConvTranspose2d(
                    width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(norm, width // 2),
                nn.ReLU(),
            ]
        layers += [
            nn.Conv2d(ngf, out_channels, 7, padding=3, padding_mode=padding),
            nn.Tanh(),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_multiple(x, self.size_multiple, "ResNetGenerator")
        height, width = (side // self.size_multiple for side in x.shape[-2:])
        if self._too_small(height, width):
            raise ValueError(
                f"ResNetGenerator: a {x.shape[-2]}x{x.shape[-1]} input is {height}x{width} "
                f"positions after its {self.size_multiple}x downsampling, too few for its "
                f"{'reflection padding' if self.padding == 'reflect' else 'normalisation'}; "
                f"give an image of at least {2 * self.size_multiple} px on each side"
            )
        return self.body(x)

    def _too_small(self, height: int, width: int) -> bool:
        """Whether a map of height x width positions at the residual blocks breaks them."""
        if self.padding == "reflect" and min(height, width) < 2:
            return True
        per_image = (nn.InstanceNorm2d, PerImageNorm)
        return height * width == 1 and any(isinstance(m, per_image) for m in self.modules())
