"""Which folder layout a dataset has, so a task refuses one it cannot use instead of
training on it silently, and pairing images across two folders by their file names.

Pairing by name (:func:`~img2img.data.folders.match_by_name`) lives beside the datasets
that use it. The layouts people have (names as the messages show them):

- ``a folder of images``: ``DIR/train/*.png`` (or ``DIR/*.png``): A|B side by side for
  pix2pix, HR photographs for super-resolution, samples of the distribution for GANs.
  Whether a file really holds two images side by side cannot be told from the folders.
- ``paired A/ B/ folders``: ``DIR/train/A/NAME`` with ``DIR/train/B/NAME`` (BasicSR, mmagic).
- ``unpaired trainA/ trainB/ folders``: two domains, no correspondence (CycleGAN).
- ``class folders``: ``DIR/train/<class>/*.png``, two or more (conditional GANs).
"""

from __future__ import annotations

import os
from pathlib import Path

from img2img.data.folders import paired_folders, resolve_split
from img2img.images import is_image_file

IMAGES = "a folder of images"
PAIRED_FOLDERS = "paired A/ B/ folders"
UNPAIRED = "unpaired trainA/ trainB/ folders"
CLASS_FOLDERS = "class folders"


def detect_layout(root: str | os.PathLike) -> str:
    """The layout of the dataset at ``root`` (one of the names above), judged from its
    folders only, so it costs no image decoding."""
    root = Path(root)
    if (root / "trainA").is_dir() and (root / "trainB").is_dir():
        return UNPAIRED
    if not root.is_dir():
        return IMAGES  # the caller's own reading reports the missing folder
    split = resolve_split(root, "train")
    if paired_folders(split):
        return PAIRED_FOLDERS
    subfolders = [p for p in split.iterdir() if p.is_dir() and not p.name.startswith(".")]
    direct_images = any(is_image_file(p) and not p.name.startswith(".") for p in split.iterdir())
    return CLASS_FOLDERS if len(subfolders) > 1 and not direct_images else IMAGES


def require_layout(root: str | os.PathLike, task: str, accepted: dict[str, str]) -> str:
    """``detect_layout(root)`` when it is one of ``accepted`` (layout -> how the task reads
    it), else ValueError naming the layout found and the ones ``task`` reads."""
    found = detect_layout(root)
    if found in accepted:
        return found
    wanted = "; ".join(f"{name} ({how})" for name, how in accepted.items())
    raise ValueError(f"{root}: found {found}, which {task} cannot train on; it reads {wanted}")
