"""Batch norm at inference for networks trained with batch size 1.

pix2pix trains with batch size 1 and batch norm, so during training every BatchNorm layer
normalises each image by *its own* statistics: it behaves as instance norm (with BN's
affine parameters). Its running averages, which ``eval()`` would switch to, were never what
the network saw, and they lag behind the weights; the reference code therefore tests in
train mode (with dropout on, and batch statistics mixing images when several are run).
We reproduce the training-time behaviour exactly, deterministically and per image: each
BatchNorm layer becomes an instance normalisation with the trained affine parameters, and
dropout is off. Being an ordinary module, the result batches and exports (ONNX) as is.

GANs from noise are the opposite case: trained with batches of 64, their samples look right
with batch statistics, which :func:`batch_statistics` applies without touching the running
averages, and :func:`batch_statistics_copy` bakes into a copy that exports (ONNX) as is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class PerImageNorm(nn.Module):
    """A trained BatchNorm2d evaluated with the statistics of each image (over H x W)."""

    def __init__(self, batch_norm: nn.BatchNorm2d) -> None:
        super().__init__()
        self.weight = batch_norm.weight
        self.bias = batch_norm.bias
        self.eps = batch_norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def inference_copy(module: nn.Module, per_image_statistics: bool) -> nn.Module:
    """An eval-mode copy of ``module`` for inference; with ``per_image_statistics`` its
    BatchNorm2d layers are replaced by :class:`PerImageNorm`. The original is untouched,
    so this is safe in the middle of training."""
    network = copy.deepcopy(module).eval().requires_grad_(False)
    if per_image_statistics:
        _replace_batch_norms(network)
    return network


class BatchStatisticsNorm(nn.Module):
    """A trained batch-norm layer (1-d or 2-d) evaluated with the current batch's statistics,
    written out as means and variances: the training-mode ``batch_norm`` op has no inference
    form in ONNX Runtime, these plain reductions do."""

    def __init__(self, batch_norm: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.weight = batch_norm.weight
        self.bias = batch_norm.bias
        self.eps = batch_norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.ndim)]
        mean = x.mean(dims, keepdim=True)
        variance = (x - mean).square().mean(dims, keepdim=True)
        x = (x - mean) * torch.rsqrt(variance + self.eps)
        if self.weight is None:
            return x
        shape = [1, -1] + [1] * (x.ndim - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)


def batch_statistics_copy(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` whose batch-norm layers normalise by the batch's
    statistics (what :func:`batch_statistics` does in place), for GAN sampling on any
    engine. The original is untouched."""
    network = copy.deepcopy(module).eval().requires_grad_(False)
    _replace_batch_norms(network, nn.modules.batchnorm._BatchNorm, BatchStatisticsNorm)
    return network


def _replace_batch_norms(
    module: nn.Module,
    kind: type[nn.Module] = nn.BatchNorm2d,
    replacement: type[nn.Module] = PerImageNorm,
) -> None:
    for name, child in module.named_children():
        if isinstance(child, kind):
            setattr(module, name, replacement(child))
        else:
            _replace_batch_norms(child, kind, replacement)


@contextmanager
def batch_statistics(module: nn.Module) -> Iterator[nn.Module]:
    """Within the context ``module`` is in eval mode except that its batch-norm layers
    normalise by the current batch's statistics, as in training, without updating their
    running averages (a BN layer in train mode that tracks no running stats does exactly
    that). Modes and flags are restored on exit."""
    was_training = module.training
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    module.eval()
    for m in norms:
        m.train()
        m.track_running_stats = False
    try:
        yield module
    finally:
        for m, flag in zip(norms, tracked, strict=True):
            m.track_running_stats = flag
        module.train(was_training)
