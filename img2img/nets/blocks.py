"""Building blocks shared by the networks: normalisation factory, weight init, spectral norm.

Everything here takes plain strings and numbers so that a network's constructor can
be written from its paper's table without knowing about configs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

NORMS: tuple[str, ...] = ("batch", "instance", "none")
INITS: tuple[str, ...] = ("normal", "xavier", "kaiming", "orthogonal")


def _check_norm(kind: str) -> None:
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; valid norms: {', '.join(NORMS)}")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Return a 2-d normalisation layer for feature maps of shape (N, channels, H, W).

    - "batch": ``BatchNorm2d`` with learnable scale and shift (pix2pix).
    - "instance": ``InstanceNorm2d(affine=False, track_running_stats=False)``, as in
      the CycleGAN/pix2pix code: no parameters and the same statistics in train and
      eval mode, which is what makes it suit batch size 1.
    - "none": ``Identity``, for discriminators regularised by spectral norm or a
      gradient penalty, where batch statistics would couple the samples.

    Raises ``ValueError`` listing the valid kinds on anything else.
    """
    _check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm_layer(norm, ...)`` should have a bias.

    Batch norm subtracts the per-channel mean and adds its own shift, so a bias before
    it is dead weight. The reference code drops it only for batch norm and keeps it
    before instance norm (where it is equally cancelled); we do the same so that
    parameter counts and checkpoints line up with the published models.
    """
    _check_norm(norm)
    return norm != "batch"


def require_multiple(x: torch.Tensor, multiple: int, net: str) -> None:
    """Raise ``ValueError`` unless H and W of ``x`` (N, C, H, W) divide by ``multiple``.

    Strided networks silently return a differently sized image (or fail deep inside a
    ``torch.cat``) otherwise; this names the fix instead.
    """
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(
            f"{net}: input is {height}x{width} but height and width must be multiples of "
            f"{multiple}; pad or resize the image (the network's size_multiple)"
        )


def _weight(module: nn.Module) -> torch.Tensor:
    """The tensor that owns ``module.weight``: the original under a parametrization
    (e.g. spectral norm), since initialising the computed weight would be a no-op."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Re-initialise every conv, transposed conv and linear layer of ``module`` in place.

    Weights are drawn according to ``kind``:

    - "normal": N(0, gain^2), the DCGAN/pix2pix/CycleGAN default (gain 0.02);
    - "xavier": Xavier/Glorot normal scaled by ``gain``;
    - "kaiming": He normal for ReLU, fan-in mode (``gain`` is not used);
    - "orthogonal": orthogonal matrix scaled by ``gain``.

    Biases are set to 0. BatchNorm scales are drawn from N(1, gain^2) and shifts set to 0,
    so the network starts close to the identity normalisation. Layers wrapped by spectral
    norm have their underlying weight initialised. Returns ``module`` for chaining.
    """
    if kind not in INITS:
        raise ValueError(f"unknown init {kind!r}; valid inits: {', '.join(INITS)}")
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                weight = _weight(m)
                if kind == "normal":
                    nn.init.normal_(weight, 0.0, gain)
                elif kind == "xavier":
                    nn.init.xavier_normal_(weight, gain=gain)
                elif kind == "kaiming":
                    nn.init.kaiming_normal_(weight, a=0.0, mode="fan_in", nonlinearity="relu")
                else:
                    nn.init.orthogonal_(weight, gain=gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, gain)
                nn.init.zeros_(m.bias)
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap the weight of every ``Conv2d`` and ``Linear`` in ``module`` with spectral norm.

    Each weight is divided by its largest singular value, estimated by one power
    iteration per training forward pass (Miyato et al., 2018), which bounds each
    layer's Lipschitz constant by 1. Modifies ``module`` in place and returns it.
    """
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            spectral_norm(m)
    return module
