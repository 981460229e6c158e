"""Batch norm at inference for networks trained with batch size 1.

pix2pix trains with batch size 1 and batch norm, so during training every BatchNorm layer
normalises each image by *its own* statistics: it behaves as instance norm (with BN's
affine parameters). Its running averages, which ``eval()`` would switch to, were never what
the network saw, and they lag behind the weights; the reference code therefore tests in
train mode. We reproduce the training-time behaviour exactly and deterministically: dropout
off (``eval()``), and each BatchNorm layer using the statistics of the image in front of it
(callers feed one image at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def per_image_batch_norm(module: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Within the context, ``module`` is in eval mode and, if ``enabled``, its BatchNorm
    layers normalise by the current batch's statistics without updating their running
    averages. Training mode and running averages are restored on exit."""
    was_training = module.training
    saved = []
    module.eval()
    if enabled:
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                saved.append((layer, layer.running_mean, layer.running_var))
                # With no running buffers, BatchNorm falls back to batch statistics.
                layer.running_mean, layer.running_var = None, None
    try:
        yield module
    finally:
        for layer, mean, var in saved:
            layer.running_mean, layer.running_var = mean, var
        module.train(was_training)
