"""The LPIPS network (Zhang et al., 2018) from the ``lpips`` package, its trunk from a local file.

LPIPS is a distance between deep features of an ImageNet classifier (AlexNet by default,
or VGG-16) weighted by small learned linear heads. The ``lpips`` wheel ships the heads
(``lpips/weights/v0.1/*.pth``); the trunk is built without weights and then loaded from a
torchvision weights file: the path given, else ``$IMG2IMG_LPIPS_TRUNK``, else the torch hub
cache where torchvision keeps its downloads
(``~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth``),
downloaded there on first use where the network is reachable (:mod:`img2img.backbones.hub`).
A file named by path is never replaced by a download. Without a file,
:class:`LPIPSUnavailable` says how to provide one: the metric is never computed on random
trunk weights.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from img2img.backbones.hub import TORCHVISION_URL, hub_weights

# torchvision's weight files (the names its download URLs end in) for each LPIPS trunk.
TRUNK_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class LPIPSUnavailable(RuntimeError):
    """LPIPS cannot be computed here (no trunk weights, or no ``lpips`` package)."""


def trunk_weights_path(net: str = "alex", path: str | os.PathLike | None = None) -> Path:
    """The torchvision weights file for the LPIPS trunk ``net`` ("alex" or "vgg"): ``path``,
    ``$IMG2IMG_LPIPS_TRUNK``, else the hub cache's (downloaded when missing and allowed)."""
    if net not in TRUNK_FILES:
        raise ValueError(f"net={net!r}: choose one of {', '.join(TRUNK_FILES)}")
    if path or os.environ.get("IMG2IMG_LPIPS_TRUNK"):
        file = Path(path or os.environ["IMG2IMG_LPIPS_TRUNK"])
        if not file.is_file():
            raise LPIPSUnavailable(f"{file}: LPIPS trunk weights file not found")
        return file
    return hub_weights(
        TORCHVISION_URL + TRUNK_FILES[net],
        f"LPIPS needs torchvision's ImageNet {net} weights ({TRUNK_FILES[net]})",
        "pass its path (--lpips-weights PATH, lpips(..., trunk_weights=PATH) or "
        "$IMG2IMG_LPIPS_TRUNK)",
        LPIPSUnavailable,
    )


@functools.lru_cache(maxsize=2)
def load_lpips(
    net: str = "alex", trunk_weights: str | None = None, device: str = "cpu"
) -> nn.Module:
    """The LPIPS model with its trunk loaded from :func:`trunk_weights_path`; eval mode."""
    file = trunk_weights_path(net, trunk_weights)
    import lpips as lpips_package

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips_package.LPIPS(net=net, pnet_rand=True, verbose=False)
    state = torch.load(file, map_location="cpu", weights_only=True)
    load_trunk(model.net, state, file)
    return model.eval().requires_grad_(False).to(device)


def lpips_or_reason(
    metrics: list[str],
    net: str,
    trunk_weights: str | os.PathLike | None,
    device: str,
    unavailable: dict[str, str],
) -> nn.Module | None:
    """The LPIPS model when ``metrics`` ask for ``lpips`` and it can be loaded; else None,
    and, where it cannot be loaded, why in ``unavailable["lpips"]``: an evaluation then
    reports the other metrics and says what LPIPS needs, rather than failing."""
    if "lpips" not in metrics:
        return None
    try:
        return load_lpips(net, str(trunk_weights) if trunk_weights else None, device)
    except LPIPSUnavailable as reason:
        unavailable["lpips"] = str(reason)
        return None


def load_trunk(trunk: nn.Module, state: dict[str, Tensor], file: Path) -> None:
    """Copy torchvision ``features.<index>.*`` weights into lpips's slices, whose children
    keep the torchvision index as their name; refuse a file that does not cover them all."""
    prefix = "features."
    features = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    modules = [(index, m) for part in trunk.children() for index, m in part.named_children()]
    expected = {f"{index}.{key}" for index, module in modules for key in module.state_dict()}
    if not features or not expected <= set(features):
        missing = sorted(expected - set(features))[:3]
        raise LPIPSUnavailable(f"{file}: not torchvision weights for this trunk (lacks {missing})")
    for index, module in modules:
        own = {key: features[f"{index}.{key}"] for key in module.state_dict()}
        try:
            module.load_state_dict(own)
        except RuntimeError as exc:
            raise LPIPSUnavailable(f"{file}: does not fit the {index} layer ({exc})") from None
