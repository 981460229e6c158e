"""The Context Encoder (Pathak et al., CVPR 2016): an encoder-decoder that fills a hole.

The encoder halves the image down to a 4 x 4 map with strided 4x4 convolutions (the
DCGAN discriminator's layout); the bottleneck then connects every position of that map
to every other, which is what lets the decoder paint a hole from context far away:

- ``bottleneck=4000`` (the reference code's default ``nBottleneck``): a 4x4 convolution
  without padding to a 1 x 1 x 4000 code, undone by a 4x4 transposed convolution. The code
  is batch-normalised like every hidden layer, except with ``code_norm=False``: a model
  trained with one image per batch normalises each 1 x 1 code value by itself, which
  leaves only the layer's bias (the reference's Torch layer does so silently; PyTorch's
  refuses), so such a model has no normalisation there, as pix2pix's innermost U-Net layer;
- ``bottleneck="channelwise"``: the paper's channel-wise fully connected layer, each
  channel's 16 positions fully connected to its own 16 (no cross-channel weights, so
  ``C * 16**2`` parameters instead of ``C**2 * 16**2``), followed by a 1x1 convolution
  that mixes the channels. Far smaller: what a CPU-trained, shipped model uses.

The decoder mirrors the encoder with 4x4 transposed convolutions up to the *full* image
(the reference's centre-hole network outputs only the hole's square; the full-size output
serves every mask shape with one architecture, and compositing keeps only the hole).

The network fills the hole itself (:meth:`ContextEncoder.fill_hole`) with its ``fill``
buffer, the training data's mean pixel, before encoding, so it can never see the
content under the hole, whoever calls it. ``mask_channel=True`` also feeds it the mask
as a fourth channel (later inpainting work does; the reference relied on the mean colour).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn

from img2img.nets.blocks import conv_bias, norm_layer
from img2img.nets.dcgan import dcgan_layout

BOTTLENECK_SIDE = 4


def encoder_widths(image_size: int, nef: int) -> list[int]:
    """Widths of the encoder's strided layers, image_size -> 4: the reference's
    ``nef, nef, 2nef, 4nef, 8nef`` at 128 px, its last four at 64 px (capped at 8nef)."""
    base, k = dcgan_layout(image_size)
    if base != BOTTLENECK_SIDE:
        raise ValueError(
            f"Context Encoder: image_size={image_size} must be 4 * 2**k (32, 64, 128, 256)"
        )
    return [nef * 2 ** min(3, max(0, i - k + 4)) for i in range(k)]


class ChannelwiseFC(nn.Module):
    """(N, C, n, n) -> (N, C, n, n): each channel's n*n values through its own n*n x n*n
    fully connected layer (Pathak et al., section 3.1)."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        positions = side * side
        self.weight = nn.Parameter(torch.randn(channels, positions, positions) / positions**0.5)
        self.bias = nn.Parameter(torch.zeros(channels, positions))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        flat = x.reshape(n, c, 1, h * w)
        return (flat @ self.weight).reshape(n, c, h * w).add(self.bias).reshape(n, c, h, w)


class ContextEncoder(nn.Module):
    """(image (N, 3, S, S) in [-1, 1], mask (N, 1, S, S), 1 = hole) -> prediction
    (N, 3, S, S) in [-1, 1] (tanh) for every pixel; callers keep its hole pixels.

    Args:
        image_size: S = 4 * 2**k; the network is fully connected at its bottleneck, so it
            takes exactly this size (:mod:`img2img.infer` resizes other images to it).
        nef, ngf: encoder / decoder width (the reference: 64 each).
        bottleneck: an int (code size, the reference: 4000) or "channelwise".
        mask_channel: also give the network the mask as a fourth input channel.
        norm: normalisation after every layer but the first and last ("batch").
        code_norm: normalise the 1 x 1 code of an int ``bottleneck`` (False for models
            trained with batch size 1, see the module docstring).
    """

    def __init__(
        self,
        image_size: int = 128,
        nef: int = 64,
        ngf: int = 64,
        bottleneck: int | str = 4000,
        mask_channel: bool = False,
        norm: str = "batch",
        code_norm: bool = True,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.mask_channel = mask_channel
        self.register_buffer("fill", torch.zeros(3))
        widths = encoder_widths(image_size, nef)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(3 + mask_channel, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for w_in, w_out in pairwise(widths):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=bias),
                norm_layer(norm, w_out),
                nn.LeakyReLU(0.2, True),
            ]
        top = widths[-1] * ngf // nef
        if bottleneck == "channelwise":
            layers += [
                ChannelwiseFC(widths[-1], BOTTLENECK_SIDE),
                norm_layer(norm, widths[-1]),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(widths[-1], top, 1, bias=bias),
            ]
        else:
            code = int(bottleneck)
            code_norm_kind = norm if code_norm else "none"
            layers += [
                nn.Conv2d(widths[-1], code, BOTTLENECK_SIDE, bias=conv_bias(code_norm_kind)),
                norm_layer(code_norm_kind, code),
                nn.LeakyReLU(0.2, True),
                nn.ConvTranspose2d(code, top, BOTTLENECK_SIDE, bias=bias),
            ]
        layers += [norm_layer(norm, top), nn.ReLU(True)]
        up = [w * ngf // nef for w in reversed(widths)]
        for w_in, w_out in pairwise(up):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=bias),
                norm_layer(norm, w_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(up[-1], 3, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def fill_hole(self, image: Tensor, mask: Tensor) -> Tensor:
        """``image`` with its hole pixels replaced by the ``fill`` colour."""
        fill = self.fill.to(image.dtype).view(1, 3, 1, 1)
        return image * (1 - mask) + fill * mask

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        side = self.image_size
        if image.shape[-2:] != (side, side) or mask.shape[-2:] != (side, side):
            raise ValueError(
                f"Context Encoder: expected {side} x {side} image and mask, got "
                f"{tuple(image.shape[-2:])} and {tuple(mask.shape[-2:])}"
            )
        x = self.fill_hole(image, mask)
        if self.mask_channel:
            x = torch.cat([x, mask.to(x.dtype)], 1)
        return self.body(x)
