"""Tiled inference: run a fully convolutional network on an image of any size in bounded memory.

The image is cut into overlapping tiles of ``tile`` x ``tile`` input pixels; each tile is run
on its own and the outputs are blended back. A pixel near a tile's inner edge lacks part of its
context (the network sees padding there), so in the outer quarter of each overlap a tile's
weight is ~0 and the neighbouring tile, in which the same pixels sit well inside, takes over;
across the middle half of the overlap the weights ramp linearly, so no seam shows. Where the
network's receptive-field radius is at most a quarter of the overlap, the tiled result equals
the untiled one up to float rounding; beyond it the far context contributes little (the tests
check both). Image borders keep full weight: both ways see the same padding there.

Memory is that of one tile's activations plus the full-size output, instead of the activations
of the whole image, which for a 2k x 2k input to a x4 SRResNet is several GB.

Two caveats are inherent, not bugs: a network whose receptive field covers the whole input (a
U-Net's bottleneck) and batch norm with per-image statistics (see
:mod:`img2img.nets.batchnorm`) see each tile as its own image, so tiles of those models are
consistent only approximately; the blending hides the seams.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap``
    shared pixels between neighbours; the last tile ends exactly at ``length``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def ramp(span: slice, total: int, overlap: int) -> Tensor:
    """Blend weights along one axis for a tile spanning ``span`` of ``total`` pixels: ~0
    over the first quarter of ``overlap`` from an inner edge, then rising linearly to 1 at
    three quarters; 1 inside and at image borders. Never exactly 0, so that every pixel has a
    positive total weight."""
    length = span.stop - span.start
    distance = torch.arange(length, dtype=torch.float32) + 0.5
    weight = torch.ones(length)
    if overlap > 0:
        rise = lambda d: ((d - overlap / 4) / (overlap / 2)).clamp(1e-6, 1)  # noqa: E731
        if span.start > 0:
            weight = torch.minimum(weight, rise(distance))
        if span.stop < total:
            weight = torch.minimum(weight, rise(length - distance))
    return weight


def run_tiled(
    network: Callable[[Tensor], Tensor], x: Tensor, tile: int, overlap: int, scale: int = 1
) -> Tensor:
    """``network(x)`` computed tile by tile. ``x`` is N x C x H x W; the network maps an
    h x w tile to (h * scale) x (w * scale) (any size it is given: pad inside ``network``).

    ``tile`` and ``overlap`` are in input pixels; ``overlap`` must be smaller than ``tile``.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap {overlap} must be >= 0 and smaller than the tile {tile}")
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return network(x)
    output: Tensor | None = None
    total = torch.zeros(1, 1, height * scale, width * scale)
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            bottom, right = min(top + tile, height), min(left + tile, width)
            result = network(x[..., top:bottom, left:right]).float().cpu()
            if output is None:
                output = torch.zeros(*result.shape[:2], height * scale, width * scale)
            rows = slice(top * scale, bottom * scale)
            cols = slice(left * scale, right * scale)
            weight = (
                ramp(rows, height * scale, overlap * scale)[:, None]
                * ramp(cols, width * scale, overlap * scale)[None, :]
            )
            region = (..., rows, cols)
            output[region] += result * weight
            total[region] += weight
    assert output is not None
    return output / total
