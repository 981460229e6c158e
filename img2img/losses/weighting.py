"""Balancing an adversarial term against a reconstruction term by their gradients.

VQGAN (Esser et al. 2021, eq. 7; taming-transformers' ``calculate_adaptive_weight``) scales
the generator's adversarial loss by

    lambda = ||grad_L L_rec|| / (||grad_L L_adv|| + 1e-4),   clamped to [0, 1e4], detached,

with ``L`` the decoder's last layer: whatever the scale of the discriminator's logits, the
adversarial gradient reaching the output layer is about as strong as the reconstruction's,
so neither term drowns the other as the discriminator sharpens. The latent-diffusion KL
autoencoder uses the same rule. Any recipe may ask for it through
:meth:`img2img.losses.Adversary.loss` (``adaptive_to=(rec_loss, last_layer_weight)``).
"""

from __future__ import annotations

import torch
from torch import Tensor

ADAPTIVE_EPS = 1e-4
ADAPTIVE_MAX = 1e4


def adaptive_weight(
    rec_loss: Tensor,
    adv_loss: Tensor,
    last_layer: Tensor,
    eps: float = ADAPTIVE_EPS,
    max_weight: float = ADAPTIVE_MAX,
) -> Tensor:
    """``||d rec_loss / d last_layer|| / (||d adv_loss / d last_layer|| + eps)``, clamped to
    ``[0, max_weight]`` and detached: a scalar tensor that multiplies ``adv_loss``.

    ``rec_loss`` and ``adv_loss`` are scalars whose graphs both reach ``last_layer`` (a
    parameter tensor, e.g. the decoder's output convolution weight); the graphs are kept,
    so both losses can still be back-propagated. Norms are Frobenius norms over the whole
    tensor, as in the reference.
    """
    (rec_grad,) = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)
    (adv_grad,) = torch.autograd.grad(adv_loss, last_layer, retain_graph=True)
    weight = rec_grad.norm() / (adv_grad.norm() + eps)
    return weight.clamp(0.0, max_weight).detach()
