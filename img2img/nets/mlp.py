"""Small fully connected generator and discriminator for 2-D data (the GAN lab)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from torch import Tensor, nn

from img2img.nets.autoencoder import energy_output
from img2img.nets.blocks import apply_spectral_norm
from img2img.nets.outputs import DiscriminatorOutput


def _mlp(sizes: list[int], activation: Callable[[], nn.Module]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return layers


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> points (N, out_dim), unbounded; ``layers`` hidden layers of ``hidden``
    units with ReLU."""

    def __init__(
        self, z_dim: int = 8, out_dim: int = 2, hidden: int = 128, layers: int = 3
    ) -> None:
        super().__init__()
        self.z_dim = self.latent_size = z_dim  # nets.capabilities.DrawsFromNoise
        self.num_classes = 0
        self.body = nn.Sequential(*_mlp([z_dim, *[hidden] * layers, out_dim], nn.ReLU))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(z)


class MLPDiscriminator(nn.Module):
    """Points (N, in_dim) -> logits (N,); LeakyReLU 0.2 hidden layers, optional spectral norm."""

    def __init__(
        self, in_dim: int = 2, hidden: int = 128, layers: int = 3, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(*_mlp([in_dim, *[hidden] * layers, 1], lambda: nn.LeakyReLU(0.2)))
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).flatten()


class MLPAutoEncoder(nn.Module):
    """Points (N, in_dim) -> energies (N,) >= 0 with codes: EBGAN's discriminator for 2-D
    data. Encoder ``in_dim -> hidden x layers -> code_dim`` and a mirrored decoder, LeakyReLU
    0.2 between layers; the energy is :func:`~img2img.nets.autoencoder.energy_output`'s."""

    def __init__(
        self,
        in_dim: int = 2,
        hidden: int = 128,
        layers: int = 3,
        code_dim: int = 8,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        sizes = [in_dim, *[hidden] * layers, code_dim]
        self.encoder = nn.Sequential(*_mlp(sizes, lambda: nn.LeakyReLU(0.2)))
        self.decoder = nn.Sequential(
            nn.LeakyReLU(0.2), *_mlp(sizes[::-1], lambda: nn.LeakyReLU(0.2))
        )
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        codes = self.encoder(x)
        return energy_output(x, self.decoder(codes), codes)
