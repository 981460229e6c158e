"""pix2pixHD's coarse-to-fine generator (Wang et al., 2018): a local enhancer around a
global generator.

The global generator G1 (a ResNet generator with ``n_downsampling`` downsamplings, the
reference's ``n_downsample_global``: 4 by default, 182.5M parameters at ngf 64 on a
36-channel input) works at half the output resolution and fixes the layout; the local
enhancer G2 works at full resolution and adds the detail G1 cannot: its front end encodes
the full-resolution input, the result is *added* to G1's last feature map, and residual
blocks plus one upsampling turn the sum into the image. Training G1 first and then both,
with G1 frozen for a while, is how the paper reaches 2048x1024.

One departure from the reference, so that adding the enhancer to a trained G1 starts
from G1's picture instead of from noise: the reference drops G1's output convolution;
here G1 keeps it, its pre-tanh output is upsampled (bilinear) and added to the
enhancer's own output convolution, which starts at zero. At initialisation the enhancer
therefore returns G1's image upsampled (``tanh`` of the upsampled pre-activation), and
training adds the full-resolution correction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from img2img.nets.blocks import conv_bias, norm_layer, require_multiple
from img2img.nets.multiscale import downsample
from img2img.nets.resnet import ResidualBlock, ResNetGenerator

GLOBAL_DOWNSAMPLING = 4  # pix2pixHD's n_downsample_global


def global_generator(
    in_channels: int,
    out_channels: int,
    ngf: int = 64,
    n_blocks: int = 9,
    norm: str = "instance",
    n_downsampling: int = GLOBAL_DOWNSAMPLING,
) -> ResNetGenerator:
    """pix2pixHD's G1: c7s1-ngf, ``n_downsampling`` stride-2 downsamplings (each doubling the
    width), ``n_blocks`` residual blocks at ``ngf * 2**n_downsampling`` channels, as many
    upsamplings, c7s1-out with tanh; reflection padding. (N, in, H, W) -> (N, out, H, W)
    in [-1, 1], H and W multiples of ``2**n_downsampling``."""
    return ResNetGenerator(
        in_channels, out_channels, ngf, n_blocks, norm, n_downsampling=n_downsampling
    )


class LocalEnhancer(nn.Module):
    """G = {G1, G2}: (N, in_channels, H, W) -> (N, out_channels, H, W) in [-1, 1].

    ``global_generator`` (G1, built by :func:`global_generator` with twice this
    enhancer's ``ngf``, as the reference does) runs on the input downsampled by 2 (3x3
    average pool). H and W must be multiples of ``size_multiple`` (twice G1's: 32 for
    4 downsamplings). The enhancer's
    layers, at ngf=32: c7s1-32, d64, (+ G1's 64-channel features), R64 x ``n_blocks``,
    u32, c7s1-out (zero-initialised, see the module docstring). ``local_parameters()``
    are the enhancer's own weights, the ones trained while G1 is frozen.
    """

    def __init__(
        self,
        global_generator: ResNetGenerator,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 32,
        n_blocks: int = 3,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        self.global_generator = global_generator
        self.size_multiple = 2 * global_generator.size_multiple
        self.min_size = 2 * global_generator.min_size  # G1 runs at half the resolution
        self.in_channels, self.scale = in_channels, 1  # nets.capabilities.ImageToImage
        bias = conv_bias(norm)
        self.front = nn.Sequential(
            nn.Conv2d(in_channels, ngf, 7, padding=3, padding_mode="reflect", bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(),
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1, bias=bias),
            norm_layer(norm, 2 * ngf),
            nn.ReLU(),
        )
        self.back = nn.Sequential(
            *[ResidualBlock(2 * ngf, norm, 0.0, "reflect") for _ in range(n_blocks)],
            nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(),
        )
        self.output = nn.Conv2d(ngf, out_channels, 7, padding=3, padding_mode="reflect")
        self.reset_output()

    def reset_output(self) -> None:
        """Zero the enhancer's output convolution, so the enhancer returns G1's picture
        upsampled; call it after re-initialising the weights (``init_weights``)."""
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def local_parameters(self) -> list[nn.Parameter]:
        """The enhancer's own parameters (everything but G1's)."""
        return [*self.front.parameters(), *self.back.parameters(), *self.output.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_multiple(x, self.size_multiple, "LocalEnhancer")
        layers = self.global_generator.body
        # G1's body ends with its output convolution and tanh.
        features = layers[:-2](downsample(x))
        coarse = F.interpolate(
            layers[-2](features), scale_factor=2, mode="bilinear", align_corners=False
        )
        return torch.tanh(self.output(self.back(self.front(x) + features)) + coarse)
