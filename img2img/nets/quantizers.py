"""Bottlenecks of an autoencoder: what stands between its encoder and its decoder.

- :class:`VectorQuantizer` (VQ-VAE, van den Oord et al. 2017; VQGAN): each latent vector is
  replaced by its nearest codebook entry; the codebook is a parameter trained by a loss
  (:func:`img2img.losses.quantization.quantization_loss`).
- :class:`EMAVectorQuantizer` (VQ-VAE-2 / Razavi et al. 2019, appendix of van den Oord et
  al.): the same lookup, the codebook a buffer moved by exponential moving averages of the
  vectors assigned to each code, and *dead-code restart* (Dhariwal et al. 2020, Jukebox): a
  code whose average use falls under a threshold is moved onto a random encoder output of
  the batch, the known cure for codebook collapse (taming-transformers has none).
- :class:`DiagonalGaussian` (latent diffusion's KL autoencoder, Rombach et al. 2022): the
  encoder predicts a mean and log-variance; training decodes a sample, inference the mean.
- :class:`Identity`: no bottleneck but the width (a plain autoencoder).

Each returns a :class:`Bottleneck`; the losses on it live in :mod:`img2img.losses`.
Latents are ``(N, D, h, w)``; codes ``(N, h, w)`` int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

QUANTIZERS = ("vq", "ema", "kl", "none")


@dataclass
class Bottleneck:
    """What a bottleneck made of an encoder output ``encoded`` ``(N, D, h, w)``.

    ``latent``: what the decoder gets (for a quantizer ``encoded + (quantized -
    encoded).detach()``, the straight-through estimator: the forward pass sees the codebook
    vectors, the backward pass copies the decoder's gradient to the encoder). ``quantized``:
    the codebook vectors themselves (with their graph to the codebook), ``codes`` their
    indices; ``logvar`` the posterior log-variance of the KL bottleneck, ``encoded`` its
    mean."""

    latent: Tensor
    encoded: Tensor
    quantized: Tensor | None = None
    codes: Tensor | None = None
    logvar: Tensor | None = None


def code_statistics(codes: Tensor, codebook_size: int) -> tuple[float, float]:
    """(usage, perplexity) of a set of code indices (any shape, int).

    ``usage``: the share of the codebook that occurs at least once, in [0, 1].
    ``perplexity``: ``exp`` of the entropy of the codes' frequencies, between 1 (one code
    used) and ``codebook_size`` (all used equally often): the number of equally used codes
    the assignments are worth."""
    counts = torch.bincount(codes.flatten(), minlength=codebook_size).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    return (counts > 0).double().mean().item(), math.exp(entropy)


class _Codebook(nn.Module):
    """Nearest-neighbour lookup in ``self.codebook`` ``(K, D)``, set by the subclass."""

    codebook: Tensor

    @property
    def codebook_size(self) -> int:
        return self.codebook.shape[0]

    def nearest(self, z: Tensor) -> Tensor:
        """Index of the closest code (Euclidean) for every vector of ``z`` ``(N, D, h, w)``:
        ``(N, h, w)`` int64. ``|z|^2 - 2 z.e + |e|^2``, without forming the differences."""
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1]).float()
        book = self.codebook.detach().float()
        distances = (
            flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1)[None]
        )
        return distances.argmin(1).reshape(z.shape[0], *z.shape[2:])

    def lookup(self, codes: Tensor) -> Tensor:
        """Codebook vectors of ``codes`` ``(N, h, w)``: ``(N, D, h, w)``."""
        return self.codebook[codes].permute(0, 3, 1, 2).contiguous()

    def forward(self, z: Tensor) -> Bottleneck:
        codes = self.nearest(z)
        quantized = self.lookup(codes).to(z.dtype)
        if self.training:
            self.update(z, codes)
        return Bottleneck(z + (quantized - z).detach(), z, quantized, codes)

    def update(self, z: Tensor, codes: Tensor) -> None:
        """Training-time codebook update (none: the codebook learns from its loss)."""


class VectorQuantizer(_Codebook):
    """A codebook of ``codebook_size`` vectors of ``code_dim``, initialised uniformly in
    ``+-1/codebook_size`` as in taming-transformers, trained by the codebook loss."""

    def __init__(self, codebook_size: int, code_dim: int) -> None:
        super().__init__()
        bound = 1.0 / codebook_size
        self.codebook = nn.Parameter(torch.empty(codebook_size, code_dim).uniform_(-bound, bound))


class EMAVectorQuantizer(_Codebook):
    """A codebook moved by moving averages (``decay``) of the encoder outputs assigned to
    each code, with Laplace smoothing ``eps`` of the counts; in training mode every forward
    pass updates it (like batch norm's running statistics).

    Dead-code restart: after each update, every code whose averaged count per batch is under
    ``restart_threshold`` (1, Jukebox's value: on average less than once a batch) takes the
    value of a random encoder output of the batch (torch's global RNG, so a seeded run
    repeats) and a count of 1, so it competes again; 0 turns it off. The restarted codes of
    the last update are counted in ``restarts``.
    """

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        decay: float = 0.99,
        eps: float = 1e-5,
        restart_threshold: float = 1.0,
    ) -> None:
        super().__init__()
        bound = 1.0 / codebook_size
        codebook = torch.empty(codebook_size, code_dim).uniform_(-bound, bound)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", codebook.clone())
        self.decay, self.eps, self.restart_threshold = decay, eps, restart_threshold
        self.restarts = 0

    @torch.no_grad()
    def update(self, z: Tensor, codes: Tensor) -> None:
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1]).float()
        codes = codes.flatten()
        counts = torch.bincount(codes, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, flat)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self.restart_dead_codes(flat)

    def restart_dead_codes(self, flat: Tensor) -> None:
        """Move the codes used less than ``restart_threshold`` times per batch (on average)
        onto random rows of ``flat`` ``(M, D)``, the batch's encoder outputs."""
        dead = (self.cluster_size < self.restart_threshold).nonzero().flatten()
        self.restarts = len(dead)
        if not len(dead):
            return
        picks = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
        self.codebook[dead] = picks
        self.embed_sum[dead] = picks
        self.cluster_size[dead] = 1.0


class DiagonalGaussian(nn.Module):
    """The KL autoencoder's posterior: ``moments`` ``(N, 2D, h, w)`` split into mean and
    log-variance (clamped to [-30, 20] as in latent diffusion); a sample in training mode,
    the mean in eval mode."""

    def forward(self, moments: Tensor) -> Bottleneck:
        mean, logvar = moments.chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        latent = mean
        if self.training:
            latent = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        return Bottleneck(latent, mean, logvar=logvar)


class Identity(nn.Module):
    """No bottleneck: the decoder gets the encoder output."""

    def forward(self, z: Tensor) -> Bottleneck:
        return Bottleneck(z, z)


def build_bottleneck(
    kind: str,
    codebook_size: int,
    code_dim: int,
    ema_decay: float = 0.99,
    restart_threshold: float = 1.0,
) -> nn.Module:
    """The bottleneck ``kind`` (one of :data:`QUANTIZERS`)."""
    if kind == "vq":
        return VectorQuantizer(codebook_size, code_dim)
    if kind == "ema":
        return EMAVectorQuantizer(
            codebook_size, code_dim, decay=ema_decay, restart_threshold=restart_threshold
        )
    if kind == "kl":
        return DiagonalGaussian()
    if kind == "none":
        return Identity()
    raise ValueError(f"unknown quantizer {kind!r}; choose one of {', '.join(QUANTIZERS)}")
