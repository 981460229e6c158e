"""The Context Encoder's reconstruction loss (Pathak et al., 2016, eq. 1, with the
reference code's overlap weighting)."""

from __future__ import annotations

from torch import Tensor


def hole_l2(
    prediction: Tensor, target: Tensor, hole: Tensor, band: Tensor, band_weight: float = 10.0
) -> Tensor:
    """Weighted mean squared error over the predicted region, the hole plus its ``band``.

    ``prediction``/``target``: (N, C, H, W); ``hole``/``band``: (N, 1, H, W) in {0, 1}, the
    band being known context the network also predicts (:func:`img2img.data.masks.overlap_band`).
    Each squared error counts 1 in the hole and ``band_weight`` in the band (the reference's
    ``overlapL2Weight`` = 10, which makes the fill continue its border); the sum is divided
    by the number of predicted elements, so for the centre hole it is the reference's
    ``MSECriterion`` over the predicted square. Pixels outside hole and band count 0.
    """
    weight = hole + band_weight * band
    region = (hole + band).clamp(max=1).sum() * prediction.shape[1]
    return (weight * (prediction - target).pow(2)).sum() / region.clamp(min=1)
