"""EBGAN's losses (Zhao et al. 2017): a margin on energies, and the pulling-away term.

The discriminator is an energy function: an auto-encoder whose per-sample reconstruction
error is low on data and high elsewhere (:mod:`img2img.nets.autoencoder`). Its energies are
the ``logits`` the objective sees:

    D: min  E D(x) + E [m - D(G(z))]+        (eq. 1: pull real energies down, push fakes
                                              up until they reach the margin m)
    G: min  E D(G(z)) + pt_weight * PT       (eq. 2, plus the pulling-away term)

The ``[.]+`` is taken per sample, as in the paper: a fake already above the margin stops
pushing, the others keep their gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def margin_d_loss(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    """E D(x) + E relu(m - D(G(z))), each a mean over the samples (energies ``(N,)``)."""
    return real_energy.mean() + F.relu(margin - fake_energy).mean()


def energy_g_loss(fake_energy: Tensor, real_energy: Tensor | None = None) -> Tensor:
    """E D(G(z)): the generator lowers the energy of its samples."""
    return fake_energy.mean()


def pulling_away_term(codes: Tensor) -> Tensor:
    """f_PT(S) = 1/(N(N-1)) sum_{i != j} (S_i . S_j / (|S_i| |S_j|))^2 (eq. 4).

    ``codes`` ``(N, ...)`` are the encoder's codes of one batch of generated samples, one
    row per sample (flattened). The mean squared cosine similarity of distinct pairs is 0
    for mutually orthogonal codes and 1 when all point the same way: lowering it spreads the
    batch out in the discriminator's code space, against mode collapse. Scale-invariant, so
    the encoder cannot lower it by shrinking its codes. Needs N >= 2.
    """
    n = len(codes)
    if n < 2:
        raise ValueError(f"the pulling-away term needs at least 2 samples, got {n}")
    unit = F.normalize(codes.reshape(n, -1), dim=1)
    cosine = unit @ unit.T
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=codes.device)
    return cosine[off_diagonal].pow(2).mean()


def pulling_away_loss(aux: dict[str, Tensor]) -> Tensor:
    """:func:`pulling_away_term` of a verdict's ``aux["codes"]``: the form an
    :class:`~img2img.losses.Adversary`'s ``aux_losses`` takes."""
    if "codes" not in aux:
        raise ValueError(
            "the pulling-away term needs the discriminator's codes (aux['codes']): use an "
            "auto-encoder discriminator (img2img.nets.autoencoder)"
        )
    return pulling_away_term(aux["codes"])
