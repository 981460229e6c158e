"""Multi-scale PatchGAN discriminators (Wang et al., 2018, pix2pixHD).

At high resolution one 70x70 PatchGAN sees only texture: to judge the layout of a
2048x1024 image it would need a huge receptive field (deeper net, more memory, more
overfitting). pix2pixHD instead runs ``num_d`` copies of the same PatchGAN architecture,
each with its own weights, on the image downsampled by 1, 2, 4, ...: the coarsest judges
global structure, the finest local detail. Downsampling is the reference's 3x3 average
pool with stride 2 (padding 1, padding not counted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from img2img.nets.outputs import DiscriminatorOutput
from img2img.nets.patchgan import PatchGAN, _conv_layout


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve H and W (rounding up) with a 3x3 stride-2 average pool, padding 1 not counted:
    pix2pixHD's ``AvgPool2d(3, 2, 1, count_include_pad=False)``, so border pixels are the
    mean of the pixels that exist."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


def multiscale_receptive_field(n_layers: int, scale: int) -> int:
    """Side, in input pixels, of the square one logit of the ``scale``-th discriminator
    (0 = full resolution) sees: ``scale`` 3x3 stride-2 pools, then the PatchGAN's convs.
    For n_layers=3: 70, 141, 283 px, about twice per scale."""
    field, jump = 1, 1
    for kernel, stride in [(3, 2)] * scale + _conv_layout(n_layers):
        field += (kernel - 1) * jump
        jump *= stride
    return field


class MultiScaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs, the k-th on the input downsampled by 2**k.

    (N, in_channels, H, W) -> :class:`DiscriminatorOutput` with ``logits`` a list of
    ``num_d`` maps (scale 0 first: (N, 1, H / 2**n_layers - 2, ...), then each about half
    the size) and ``features`` the per-scale LeakyReLU activations (``n_layers + 1`` each).
    H and W must be at least ``3 * 2 ** (n_layers + num_d - 1)``. The remaining keyword
    arguments are :class:`PatchGAN`'s.
    """

    def __init__(self, num_d: int = 3, **patchgan: object) -> None:
        super().__init__()
        if num_d < 1:
            raise ValueError(f"MultiScaleDiscriminator: num_d must be >= 1, got {num_d}")
        self.scales = nn.ModuleList(PatchGAN(**patchgan) for _ in range(num_d))

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        logits, features = [], []
        for k, discriminator in enumerate(self.scales):
            if k:
                x = downsample(x)
            activations, scale_logits = discriminator.features(x)
            logits.append(scale_logits)
            features.append(activations)
        return DiscriminatorOutput(logits=logits, features=features)
