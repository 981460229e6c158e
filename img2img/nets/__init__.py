"""Network architectures: generators and discriminators as plain ``nn.Module``s.

Networks take explicit keyword arguments only; choosing one by name goes through the
registries below, so a config can say ``"unet"`` without any import-by-string.
"""

from __future__ import annotations

from torch import nn

from img2img.nets.blocks import NORMS, apply_spectral_norm, init_weights, norm_layer
from img2img.nets.patchgan import PatchGAN, receptive_field
from img2img.nets.resnet import ResNetGenerator
from img2img.nets.unet import UNet, unet_depth_for

GENERATORS: dict[str, type[nn.Module]] = {"unet": UNet, "resnet": ResNetGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"patchgan": PatchGAN}


def _build(registry: dict[str, type[nn.Module]], role: str, name: str, kwargs: dict) -> nn.Module:
    if name not in registry:
        raise ValueError(f"unknown {role} {name!r}; valid {role}s: {', '.join(sorted(registry))}")
    return registry[name](**kwargs)


def build_generator(name: str, **kwargs) -> nn.Module:
    """Instantiate ``GENERATORS[name](**kwargs)``; e.g. ``build_generator("unet", ngf=32)``.

    Raises ``ValueError`` listing the valid names if ``name`` is unknown.
    """
    return _build(GENERATORS, "generator", name, kwargs)


def build_discriminator(name: str, **kwargs) -> nn.Module:
    """Instantiate ``DISCRIMINATORS[name](**kwargs)``; e.g. ``build_discriminator("patchgan")``.

    Raises ``ValueError`` listing the valid names if ``name`` is unknown.
    """
    return _build(DISCRIMINATORS, "discriminator", name, kwargs)


__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "NORMS",
    "PatchGAN",
    "ResNetGenerator",
    "UNet",
    "apply_spectral_norm",
    "build_discriminator",
    "build_generator",
    "init_weights",
    "norm_layer",
    "receptive_field",
    "unet_depth_for",
]
