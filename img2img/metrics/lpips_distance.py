"""The LPIPS metric (Zhang et al., 2018): per-image distances, offline.

The network and where its trunk weights come from are :mod:`img2img.backbones.lpips`;
without them :class:`~img2img.backbones.lpips.LPIPSUnavailable` says where to put them,
so the metric is never computed on random trunk weights.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from img2img.backbones.lpips import load_lpips
from img2img.devices import resolve_device


def lpips(
    a: Tensor,
    b: Tensor,
    *,
    net: str = "alex",
    trunk_weights: str | os.PathLike | None = None,
    device: str = "auto",
) -> Tensor:
    """LPIPS distance per image (lower is closer; 0 for identical images).

    ``a``, ``b``: (N, 3, H, W) or (3, H, W) in [-1, 1]. Returns float32 (N,) on the CPU.
    Raises :class:`LPIPSUnavailable` when the trunk weights are not on disk."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    target = resolve_device(device)
    model = load_lpips(net, str(trunk_weights) if trunk_weights else None, str(target))
    a, b = (x[None] if x.ndim == 3 else x for x in (a, b))
    with torch.inference_mode():
        return model(a.float().to(target), b.float().to(target)).flatten().float().cpu()
