"""Semantic label maps as network input: one channel per class (pix2pixHD).

A label map is an image whose pixel values name classes, not intensities; feeding its
RGB values to a generator would make "window" numerically between "wall" and "door".
:class:`LabelEncoder` turns it into one-hot channels, from either

- class-index images (greyscale, pixel value = class index), or
- colour images drawn in a palette (each class one colour): every pixel goes to the
  nearest palette colour, so JPEG noise still lands on a class, and a colour farther than
  ``tolerance`` from every palette colour is refused as a class the palette does not know.
  JPEG's chroma subsampling also blends the colours of thin structures and borders into
  colours far from any class (the CMP Facades files hold pixels 174 levels off in a
  channel), so distance alone cannot tell them from an unknown class. With
  ``blended_borders`` a far colour is refused only where it fills an area (its 5x5
  neighbourhood varies by less than 16 levels), which is what a class the palette lacks
  looks like; blended pixels go to their nearest class.

The encoder is part of the saved generator (its palette is a buffer in the weights), so
``translate``, ``eval`` and the demo feed the same label images the model trained on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nets.capabilities import HasMinimumSize

# A 5x5 neighbourhood whose channels vary less than this is an area, not a border. Over
# the 506 CMP Facades label maps no pixel 60 levels from every class lies in such an area.
BORDER_SPREAD = 16


class UnknownLabel(ValueError):
    """A label map value that names no class; the message names the value."""


class LabelEncoder(nn.Module):
    """(N, 3, H, W) label image in [-1, 1] -> (N, label_nc, H, W) one-hot in {0, 1}.

    ``palette``: (label_nc, 3) RGB colours in [0, 255], class k drawn in ``palette[k]``;
    None for class-index images (channel 0 holds the index, 0 .. label_nc - 1).
    ``tolerance``: the largest Euclidean RGB distance (8-bit units) from a pixel to its
    nearest palette colour that is still accepted; ``blended_borders``: accept farther
    colours where the colour varies (module docstring).
    """

    def __init__(
        self,
        label_nc: int,
        palette: Tensor | None = None,
        tolerance: float = 0.0,
        blended_borders: bool = False,
    ) -> None:
        super().__init__()
        if label_nc < 1:
            raise ValueError(f"LabelEncoder: label_nc must be >= 1, got {label_nc}")
        if palette is not None and palette.shape != (label_nc, 3):
            raise ValueError(
                f"LabelEncoder: a palette of {tuple(palette.shape)} for {label_nc} classes; "
                f"it needs one RGB colour per class, ({label_nc}, 3)"
            )
        self.label_nc = label_nc
        colours = torch.empty(0, 3) if palette is None else palette.float()
        self.register_buffer("palette", colours)
        self.register_buffer("tolerance", torch.tensor(float(tolerance)))
        self.register_buffer("blended_borders", torch.tensor(blended_borders))

    def indices(self, x: Tensor) -> Tensor:
        """The class of every pixel, (N, H, W) int64; raises :class:`UnknownLabel` naming
        the first value that is no class."""
        rgb = (x.detach().float() + 1) * 127.5
        if not len(self.palette):
            index = rgb[:, 0].round().long()
            if index.max() >= self.label_nc:
                raise UnknownLabel(
                    f"class index {int(index.max())} in a label map of {self.label_nc} classes "
                    f"(0 .. {self.label_nc - 1}); raise --label-nc or fix the map"
                )
            return index
        distance = torch.cdist(rgb.permute(0, 2, 3, 1).reshape(1, -1, 3), self.palette[None])[0]
        nearest, index = distance.min(dim=1)
        far = nearest > self.tolerance
        if self.blended_borders:
            spread = F.max_pool2d(rgb, 5, 1, 2) + F.max_pool2d(-rgb, 5, 1, 2)
            far &= (spread.amax(dim=1) < BORDER_SPREAD).flatten()
        if far.any():
            colour = rgb.permute(0, 2, 3, 1).reshape(-1, 3)[far.nonzero()[0, 0]]
            rgb_text = ", ".join(str(round(v)) for v in colour.tolist())
            raise UnknownLabel(
                f"colour ({rgb_text}) is no class of the palette: its nearest palette colour "
                f"is {float(nearest[far][0]):.0f} away (tolerance {float(self.tolerance):.0f})"
            )
        return index.reshape(len(x), *x.shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        one_hot = F.one_hot(self.indices(x), self.label_nc)
        return one_hot.permute(0, 3, 1, 2).to(x.dtype)


class LabelToImage(nn.Module):
    """A generator fed by a :class:`LabelEncoder`: (N, 3, H, W) label image in [-1, 1] ->
    the network's output. ``encoder=None`` passes the image through (RGB inputs)."""

    def __init__(self, network: nn.Module, encoder: LabelEncoder | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.network = network
        # nets.capabilities.ImageToImage: a 3-channel label image, the network's multiple.
        self.in_channels, self.size_multiple, self.scale = 3, network.size_multiple, 1
        if isinstance(network, HasMinimumSize):
            self.min_size = network.min_size

    def encode(self, x: Tensor) -> Tensor:
        """The network's input for label image ``x``: one-hot channels, or ``x`` itself."""
        return x if self.encoder is None else self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.network(self.encode(x))

    def input_stage(self) -> tuple[Callable[[Tensor], Tensor], nn.Module, int]:
        """(input stage, network, the network's input channels): the label check and the
        one-hot encoding branch on the data, which no exported graph keeps, so inference
        runs them in PyTorch and hands only the network to an engine (see
        :class:`img2img.infer.Translator`)."""
        channels = 3 if self.encoder is None else self.encoder.label_nc
        return self.encode, self.network, channels
