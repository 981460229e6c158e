"""Unlabelled image folders and class folders (labels from sub-folder names), for GANs."""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.folders import find_images, read_first_usable
from img2img.data.transforms import resize
from img2img.images import load_image, pil_to_channels


def class_names(root: str | os.PathLike) -> list[str]:
    """Sorted names of the visible sub-folders of ``root`` that hold images; [] if none do.

    A folder whose every image sits in a sub-folder is a class-folder dataset (the
    torchvision ``ImageFolder`` layout, e.g. ``cifar10-test/<class>/*.jpg``).
    """
    root = Path(root)
    if not root.is_dir() or any(p.is_file() and not p.name.startswith(".") for p in root.iterdir()):
        return []
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return names if len(names) > 1 else []


class ImageFolder(Dataset):
    """Every image under ``root``, resized to ``image_size`` squared (PIL bicubic).

    Items are ``{"image": (channels, S, S) in [-1, 1], "label": int, "skipped": int}``. The
    label is the index of the image's class folder in :func:`class_names` when ``root`` is a
    class-folder dataset, else 0. ``channels=1`` converts to luma. An unreadable file is
    skipped with a warning naming it (the next file is used; ``skipped`` is 1 for such a
    stand-in, so an epoch's sum counts each unreadable file once).
    """

    def __init__(self, root: str | os.PathLike, image_size: int = 64, channels: int = 3) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels={channels}: use 1 (grayscale) or 3 (RGB)")
        self.root = Path(root)
        self.files = find_images(root)
        self.classes = class_names(root)
        index = {name: i for i, name in enumerate(self.classes)}
        self.labels = [
            index[path.relative_to(self.root).parts[0]] if self.classes else 0
            for path in self.files
        ]
        self.image_size = image_size
        self.channels = channels

    @property
    def num_classes(self) -> int:
        return max(len(self.classes), 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        count = len(self.files)
        image, _, skipped = read_first_usable(
            self.files,
            index,
            load_image,
            f"{self.root}: none of its {count} images can be read (see the warnings)",
        )
        image = resize(image, (self.image_size, self.image_size))
        return {
            "image": pil_to_channels(image, self.channels),
            "label": self.labels[(index + skipped) % count],
            "skipped": int(skipped > 0),
        }
