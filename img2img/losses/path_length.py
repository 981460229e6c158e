"""StyleGAN2's path-length regulariser (Karras et al. 2020, eq. 4; stylegan2-ada-pytorch
``loss.py``, phase Greg): a fixed-size step in w should move the image by a fixed amount,
whatever the w, which makes the generator's mapping smoother and easier to invert.

    penalty = E_w,y (||J_w^T y||_2 - a)^2,    y ~ N(0, I) / sqrt(H W)

``a`` is the running mean of the lengths (decay 0.01), held by the caller.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def path_length_penalty(
    images: Tensor, ws: Tensor, mean_length: Tensor, decay: float = 0.01
) -> tuple[Tensor, Tensor]:
    """(penalty, updated mean length) for ``images = synthesis(ws)`` (N, C, H, W) made from
    ``ws`` (N, num_ws, w_dim) with ``ws`` in the graph (the mapping network's output, not
    a detached copy, so the penalty's gradient reaches the mapping too). The penalty (a
    scalar >= 0) keeps its graph so it trains the generator; the new mean (a detached
    scalar tensor) is ``mean_length`` moved by ``decay`` towards this batch's mean length.
    As in the reference, the penalty compares with the new mean before it is detached, so
    a ``decay``-weighted gradient also flows through this batch's mean length."""
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
    mean = mean_length.lerp(lengths.mean(), decay)
    return (lengths - mean).square().mean(), mean.detach()
