"""Feature matching (Wang et al., 2018, pix2pixHD; after Salimans et al., 2016).

The generator is asked to make the discriminators' intermediate activations on its output
match those on the real image. Because the discriminator's layers are trained to tell the
two apart, its features are a learned, multi-scale description of what matters, and
matching them stabilises training and sharpens structure where the adversarial term
alone is noisy.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def feature_matching_loss(
    fake_features: list[list[Tensor]], real_features: list[list[Tensor]]
) -> Tensor:
    """sum_k 1/num_d * sum_j 4/n_k * mean |fake_kj - real_kj| over scales k and layers j.

    ``fake_features[k][j]``: the j-th activation of the k-th discriminator on the
    generated input (its gradient reaches the generator); ``real_features`` the same on
    the real input, detached here. The weights are the reference code's: 1/num_d averages
    the discriminators, and 4 / n_k (n_k = the layers compared, n_layers + 1 for a
    PatchGAN, so 1 for the 70x70 one) keeps the sum of a scale's terms near four L1
    losses whatever its depth. Returns a scalar >= 0, exactly 0 when the features agree.
    The task multiplies it by its weight (pix2pixHD: lambda_feat = 10).
    """
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(
            f"feature matching: {len(fake_features)} scales of fake features against "
            f"{len(real_features)} of real ones; both need the same, at least one"
        )
    total = fake_features[0][0].new_zeros(())
    for fake_scale, real_scale in zip(fake_features, real_features, strict=True):
        weight = 4.0 / len(fake_scale) / len(fake_features)
        for fake, real in zip(fake_scale, real_scale, strict=True):
            total = total + weight * F.l1_loss(fake, real.detach())
    return total
