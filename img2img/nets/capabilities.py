"""What a generator offers the code that runs it, declared as protocols.

``translate``, ``sample``, ``eval`` and the demo run networks they did not build; what they
need from one is written down here, once, instead of being looked up attribute by attribute
where it is used. A network declares a capability by having its members (structural typing:
no base class to inherit), and :func:`require` checks them when a model is loaded, so a
network that forgets one (``size_multiple``, say) fails at load with its name, instead of
being run with a guessed default.

- :class:`ImageToImage`: what every network ``translate`` runs has (its input channels, the
  multiple its sides must be, its upscaling factor).
- :class:`HasMinimumSize`: a network that cannot run on inputs smaller than ``min_size``
  (after padding to its multiple), which ``translate`` then refuses by name.
- :class:`PreparesInput`: an input stage run apart from the network (a label map's check
  and one-hot encoding), so an engine runs only the network.
- :class:`FillsHoles`: an inpainting network: fills the hole itself, at one size.
- :class:`HasCodes`: an autoencoder with codes (``Translator.encode/decode``).
- :class:`DrawsFromNoise`: a generator ``sample`` and FID draw images from latents with.
- :class:`MixesStyles`, :class:`DenoisesInSteps`, :class:`Grows`: extra views of some
  generators from noise (style mixing, the denoising chain, how far it has grown).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class ImageToImage(Protocol):
    """(N, in_channels, H, W) in [-1, 1] -> (N, C, scale * H, scale * W), H and W multiples of
    ``size_multiple`` (the input is padded up to them); ``in_channels`` 1 means grayscale
    (inputs are converted to luma)."""

    in_channels: int
    size_multiple: int
    scale: int


@runtime_checkable
class HasMinimumSize(Protocol):
    """Inputs need at least ``min_size`` pixels on each side (a ResNet generator's residual
    blocks reflection-pad a map its downsamplings must leave at least 2 x 2)."""

    min_size: int


@runtime_checkable
class PreparesInput(Protocol):
    """``input_stage() -> (prepare, network, channels)``: a step run in PyTorch before the
    network (``prepare``: NCHW in -> ``channels``-channel NCHW for ``network``)."""

    def input_stage(self) -> tuple[Callable[[Tensor], Tensor], nn.Module, int]: ...


@runtime_checkable
class FillsHoles(Protocol):
    """``forward(image, mask)`` at ``image_size`` x ``image_size``; ``fill_hole`` replaces
    the hole's pixels before anything else sees them."""

    image_size: int

    def fill_hole(self, image: Tensor, mask: Tensor) -> Tensor: ...


@runtime_checkable
class HasCodes(Protocol):
    """``encode(x)`` -> codes (int64 maps; a float latent when ``codebook_size`` is 0) and
    ``decode(codes)`` -> images."""

    codebook_size: int

    def encode(self, x: Tensor) -> Tensor: ...

    def decode(self, codes: Tensor) -> Tensor: ...


@runtime_checkable
class DrawsFromNoise(Protocol):
    """``forward(latent, labels=None)``: (N, latent_size) ~ N(0, I) -> images; labels in
    [0, num_classes) when ``num_classes`` > 0 (a class-conditional model)."""

    latent_size: int
    num_classes: int


@runtime_checkable
class MixesStyles(Protocol):
    """A style generator: z -> w (``map``), w per layer (``broadcast``), ``synthesis``."""

    num_ws: int
    z_dim: int

    def map(self, z: Tensor, truncation: float = 1.0) -> Tensor: ...

    def broadcast(self, w: Tensor) -> Tensor: ...

    def synthesis(self, ws: Tensor) -> Tensor: ...


@runtime_checkable
class DenoisesInSteps(Protocol):
    """A chain of ``steps`` denoising steps; ``trajectory(latent)`` lists x_T ... x_0."""

    steps: int

    def trajectory(self, latent: Tensor) -> list[Tensor]: ...


@runtime_checkable
class Grows(Protocol):
    """A progressively grown generator; ``growth()`` says how far, e.g. "16x16 of 32x32"."""

    def growth(self) -> str: ...


def members(capability: type) -> list[str]:
    """The attributes and methods a capability declares, in order."""
    names = list(getattr(capability, "__annotations__", {}))
    names += [
        name
        for name, value in vars(capability).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]
    return names


def require(network: Any, capability: type, use: str) -> None:
    """Raise TypeError naming ``network``'s class and the members of ``capability`` it lacks,
    for ``use`` (what was to be done with it: "translate", "sample", ...)."""
    missing = [name for name in members(capability) if not hasattr(network, name)]
    if missing:
        raise TypeError(
            f"{type(network).__name__} cannot {use}: it lacks {', '.join(missing)} "
            f"(see img2img.nets.capabilities.{capability.__name__})"
        )
