"""Losses of an autoencoder's bottleneck (:mod:`img2img.nets.quantizers`).

Vector quantization (van den Oord et al. 2017, eq. 3) has no gradient through the nearest-
neighbour lookup, so two terms train what the straight-through estimator does not:

    codebook   = || sg[z_e] - z_q ||^2     moves the codes towards the encoder outputs,
    commitment = || z_e - sg[z_q] ||^2     keeps the encoder near its codes,

    loss = codebook + beta * commitment,   beta = 0.25.

That puts beta on the *encoder* side, as the VQ-VAE paper does and as taming-transformers'
``VectorQuantizer2(legacy=False)`` does; its default ``legacy=True`` (the released VQGAN
models) has ``beta * codebook + commitment`` instead. An EMA codebook is moved by averages,
not by this loss, so only the commitment term remains. Squared distances are means over
elements, as in the reference.

The KL autoencoder (latent diffusion) instead pays KL(q(z|x) || N(0, I)) with a small
weight (1e-6). The reference sums its reconstruction term over the pixels of an image and
its KL over the latent; img2img's reconstruction terms are means over pixels, so the KL
here is divided by the image's element count (``3 H W``), which leaves the reference's
balance unchanged. The adaptive weight, a ratio of gradient norms taken against the
reconstruction term, comes out ``3 H W`` times smaller too, so latent diffusion's clamp of it
at 1e4 is a clamp at ``1e4 / (3 H W)`` here (:meth:`img2img.tasks.vqgan.VQGAN.adaptive_max`);
taming's VQGAN takes the mean, as img2img does, and clamps at 1e4.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from img2img.nets.quantizers import Bottleneck


def codebook_loss(encoded: Tensor, quantized: Tensor) -> Tensor:
    """``mean (sg[encoded] - quantized)^2``: the gradient reaches the codebook only."""
    return F.mse_loss(quantized, encoded.detach())


def commitment_loss(encoded: Tensor, quantized: Tensor) -> Tensor:
    """``mean (encoded - sg[quantized])^2``: the gradient reaches the encoder only."""
    return F.mse_loss(encoded, quantized.detach())


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over each sample's latent, ``(N,)``:
    ``0.5 * sum(mean^2 + var - 1 - logvar)``."""
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.reshape(len(kl), -1).sum(dim=1)


def bottleneck_loss(
    neck: Bottleneck, image_elements: int, beta: float = 0.25, kl_weight: float = 1e-6
) -> tuple[Tensor, dict[str, float]]:
    """The loss of a bottleneck's output and its logs.

    A KL posterior (``neck.logvar``) pays ``kl_weight * KL / image_elements`` (see the module
    docstring); a quantizer pays ``codebook + beta * commitment``, without the codebook term
    when its codebook is not trained by gradients (EMA: ``quantized`` needs no grad); no
    bottleneck pays 0. ``image_elements``: ``3 * H * W`` of the images encoded.
    """
    if neck.logvar is not None:
        kl = kl_divergence(neck.encoded, neck.logvar).mean()
        return kl_weight * kl / image_elements, {"kl": kl.item()}
    if neck.quantized is None:
        return neck.latent.new_zeros(()), {}
    commitment = commitment_loss(neck.encoded, neck.quantized)
    logs = {"commitment": commitment.item()}
    loss = beta * commitment
    if neck.quantized.requires_grad:
        codebook = codebook_loss(neck.encoded, neck.quantized)
        logs["codebook"] = codebook.item()
        loss = loss + codebook
    return loss, logs
