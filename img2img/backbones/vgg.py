"""torchvision's VGG19 convolutional features, with its ImageNet weights.

The weights (``vgg19-dcbbe5f2.pth``) are read from a file the caller names, else from the
torch hub cache where torchvision keeps its downloads, downloaded there on first use where
the network is reachable (:mod:`img2img.backbones.hub`). Used by the SRGAN content loss
(:mod:`img2img.losses.perceptual`, Ledig et al. 2017's VGG54/VGG22).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from img2img.backbones.hub import TORCHVISION_URL, hub_weights

VGG19_FILE = "vgg19-dcbbe5f2.pth"
# Index of the ReLU in torchvision's vgg19().features after which the features are taken.
VGG19_LAYERS = {"relu2_2": 8, "relu5_4": 35}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualWeightsMissing(FileNotFoundError):
    """The pretrained weights a perceptual backbone needs are not on this machine."""


def vgg19_weights_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` if given (it must exist), else torchvision's file in the torch hub cache
    (downloaded when missing and allowed)."""
    if path:
        file = Path(path)
        if not file.is_file():
            raise PerceptualWeightsMissing(f"{file}: VGG19 weights file not found")
        return file
    return hub_weights(
        TORCHVISION_URL + VGG19_FILE,
        f"the vgg19 perceptual loss needs torchvision's ImageNet VGG19 weights ({VGG19_FILE})",
        "pass its path with --perceptual-weights PATH; or use --perceptual inception",
        PerceptualWeightsMissing,
    )


def vgg19_features(layer: str = "relu5_4", weights: str | os.PathLike | None = None) -> nn.Module:
    """torchvision's VGG19 ``features`` up to ``layer``, with weights from a local file.

    Only the convolutional part is built and read (the file may or may not hold the
    classifier), so no memory goes to the 120M dense parameters the loss never uses."""
    from torchvision.models.vgg import cfgs, make_layers

    if layer not in VGG19_LAYERS:
        raise ValueError(f"vgg19 layer {layer!r}: choose one of {', '.join(VGG19_LAYERS)}")
    file = vgg19_weights_path(weights)
    state = torch.load(file, map_location="cpu", weights_only=True)
    prefix = "features."
    features = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    network = make_layers(cfgs["E"])
    try:
        network.load_state_dict(features)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{file}: not torchvision VGG19 weights ({first})") from None
    return network[: VGG19_LAYERS[layer] + 1]


class ImageNetInput(nn.Module):
    """[-1, 1] RGB -> the ImageNet-normalised input torchvision's classifiers expect."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return ((x + 1) / 2 - self.mean) / self.std
