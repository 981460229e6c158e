"""PatchGAN discriminator (Isola et al., 2017): a fully convolutional classifier whose
every output logit judges one overlapping patch of the input.

Penalising structure only at the scale of patches models the image as a Markov random
field: the L1 loss already takes care of low frequencies, so the adversary only needs
to make local texture sharp, and a small fixed receptive field does that with few
parameters and at any image size.
"""

from __future__ import annotations

import torch
from torch import nn

from img2img.nets.blocks import apply_spectral_norm, conv_bias, norm_layer


def _conv_layout(n_layers: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each convolution, input to output.

    n_layers >= 1: n_layers 4x4 stride-2 convs, one 4x4 stride-1 conv, a 4x4 stride-1
    output conv. n_layers == 0 is the PixelGAN: three 1x1 convs.
    """
    if n_layers < 0:
        raise ValueError(f"PatchGAN: n_layers must be >= 0, got {n_layers}")
    if n_layers == 0:
        return [(1, 1)] * 3
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the input patch that one output logit of ``PatchGAN`` sees.

    1 for n_layers=0, 16, 34, 70, 142 for n_layers=1..4. Each conv widens the field by
    (kernel - 1) steps of the product of the strides before it.
    """
    field, jump = 1, 1
    for kernel, stride in _conv_layout(n_layers):
        field += (kernel - 1) * jump
        jump *= stride
    return field


class PatchGAN(nn.Module):
    """Patch discriminator: (N, in_channels, H, W) -> raw logits (N, 1, h, w), unbounded.

    Each logit looks at a ``receptive_field(n_layers)`` square of the input (70x70 for
    the paper's n_layers=3, where a 256x256 input gives a 30x30 map); n_layers=0 gives
    the 1x1 PixelGAN with h, w = H, W. For n_layers >= 1, h = H // 2 ** n_layers - 2, so
    H and W must be at least 3 * 2 ** n_layers. Apply the sigmoid, if any, in the loss.

    Args:
        in_channels: 6 for pix2pix (input and output images concatenated), 3 for CycleGAN.
        ndf: width of the first conv; each later one doubles it, up to 8 * ndf.
        n_layers: number of stride-2 convs; sets the receptive field.
        norm: one of ``NORMS`` ("batch" in pix2pix, "instance" in CycleGAN). The first
            conv is never normalised, following the paper.
        spectral_norm: wrap every conv with spectral normalisation (usually with
            norm="none").
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        layout = _conv_layout(n_layers)
        widths = [ndf * min(2**i, 8) for i in range(len(layout) - 1)]
        channels = [in_channels, *widths, 1]
        layers: list[nn.Module] = []
        for i, (kernel, stride) in enumerate(layout):
            is_output = i == len(layout) - 1
            use_norm = 0 < i and not is_output
            layers.append(
                nn.Conv2d(
                    channels[i],
                    channels[i + 1],
                    kernel,
                    stride,
                    padding=(kernel - 1) // 2,  # 1 for 4x4 convs, 0 for the PixelGAN's 1x1
                    bias=not use_norm or conv_bias(norm),
                )
            )
            if use_norm:
                layers.append(norm_layer(norm, channels[i + 1]))
            if not is_output:
                layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The activations after each LeakyReLU (``n_layers + 1`` maps for n_layers >= 1,
        input to output) and the logits, from one forward pass: what pix2pixHD's feature
        matching compares between real and generated images."""
        activations = []
        for layer in self.body:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                activations.append(x)
        return activations, x
