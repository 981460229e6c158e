"""Pretrained weight files: from the torch hub cache, downloaded there when missing.

LPIPS's trunk (AlexNet or VGG-16) and SRGAN's VGG19 content loss use torchvision's own weight
files, and FID falls back to pytorch-fid's Inception weights. Where the network is reachable
they download on first use as torchvision's and pytorch-fid's do: into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), checked
against the sha256 prefix in the file's name. A file already there is used as is, so a
machine without network access works once the file has been copied in; ``IMG2IMG_OFFLINE=1``
turns downloads off altogether (the test suite sets it). Either way the error names the URL
and the place the file goes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

TORCHVISION_URL = "https://download.pytorch.org/models/"
OFFLINE_ENV = "IMG2IMG_OFFLINE"


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in ("", "0", "false", "no")


def hub_file(name: str) -> Path:
    """Where torch.hub (and torchvision) keep the download ``name``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def hub_weights(url: str, purpose: str, other_ways: str, error: type[Exception]) -> Path:
    """The weights file ``url`` names (``TORCHVISION_URL + "alexnet-owt-7be5be79.pth"``) in
    the hub cache, downloaded there first when it is missing and downloads are allowed.
    Otherwise raises ``error``: ``purpose`` (what needs the file), why it is not here, and
    how to provide it by hand (the URL, the place it goes, then ``other_ways``)."""
    name = url.rsplit("/", 1)[-1]
    file = hub_file(name)
    if file.is_file():
        return file
    by_hand = f"download {url} and copy it to {file}, or {other_ways}"
    if not downloads_allowed():
        raise error(f"{purpose}; downloads are off ({OFFLINE_ENV} is set): {by_hand}")
    digest = re.search(torch.hub.HASH_REGEX, name)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(file), digest.group(1) if digest else None)
    except (OSError, RuntimeError) as err:  # no network, an HTTP error, a hash mismatch
        raise error(
            f"{purpose}; downloading {url} failed ({err}). On a machine without network "
            f"access, {by_hand}"
        ) from None
    return file
