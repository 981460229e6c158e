"""Inpainting data: any folder of images, each item an image and the hole to fill in it."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.folders import check_augmentation, find_images, read_first_usable, split_aligned
from img2img.data.masks import mask_for
from img2img.data.sampler import Key, epoch_and_index
from img2img.data.transforms import (
    apply_crop_flip,
    center_crop,
    make_generator,
    preprocessed_size,
    resize,
    sample_crop_flip,
)
from img2img.images import load_image, pil_to_tensor

HALVES = ("", "A", "B")
TEST_MASK_SEED = 0
"""Held-out items draw their holes with this seed whatever the run's, so every model (and
baseline) evaluated on a folder fills the same holes."""


class InpaintFolder(Dataset):
    """Images under ``root`` (recursively) with hole masks drawn per item.

    Items are ``{"target": (3, S, S) in [-1, 1], "mask": (1, S, S), 1 = hole, "path": str,
    "skipped": int}`` with S = ``crop_size``. ``half="A"`` or ``"B"`` keeps the left or
    right half of each A|B file (the pix2pix layout: ``A`` is the facades photo).

    Training (``train=True``): resized (PIL bicubic) as ``preprocess`` says, by default
    ``scale_shorter_and_crop``, the shorter side to ``load_size`` with the aspect ratio kept
    (the reference code's loader; ``resize_and_crop`` squashes to ``load_size`` squared), a
    random ``crop_size`` crop and horizontal flip, the mask drawn from (seed, epoch, index)
    (:func:`img2img.data.masks.mask_for`). Evaluation: the same resize and the centre crop,
    so test images are at the training scale, and the mask of (:data:`TEST_MASK_SEED`, 0,
    index). Unreadable files are skipped with a warning, as in every img2img dataset.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        mask: str = "center",
        load_size: int = 350,
        crop_size: int = 128,
        half: str = "",
        flip: bool = True,
        overlap: int = 0,
        train: bool = True,
        seed: int = 0,
        preprocess: str = "scale_shorter_and_crop",
    ) -> None:
        if half not in HALVES:
            raise ValueError(f"half={half!r}: use 'A' (left half), 'B' (right half) or ''")
        check_augmentation(load_size, crop_size, True, seed)
        self.root = Path(root)
        self.files = find_images(root)
        self.mask, self.overlap, self.half = mask, overlap, half
        self.load_size, self.crop_size = load_size, crop_size
        self.flip, self.train = flip, train
        self.preprocess = preprocess
        self.seed = seed if train else TEST_MASK_SEED
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, path: Path) -> Image.Image:
        image = load_image(path)
        if not self.half:
            return image
        left, right = split_aligned(image, path)
        return left if self.half == "A" else right

    def __getitem__(self, key: Key) -> dict[str, Tensor | str | int]:
        epoch, index = epoch_and_index(key, self.epoch)
        index %= len(self.files)
        image, path, skipped = read_first_usable(
            self.files,
            index,
            self._read,
            f"{self.root}: none of its {len(self.files)} images can be used (see the warnings)",
        )
        size = preprocessed_size(
            (image.height, image.width), self.preprocess, self.load_size, self.crop_size
        )
        crop = (self.crop_size, self.crop_size)
        if self.train:
            generator = make_generator(self.seed, epoch, index)
            params = sample_crop_flip(size, crop, self.flip, generator)
        else:
            params, epoch = center_crop(size, crop), 0
        image = apply_crop_flip(resize(image, size), params)
        return {
            "target": pil_to_tensor(image),
            "mask": mask_for(self.mask, self.crop_size, self.seed, epoch, index, self.overlap),
            "path": str(path),
            "skipped": int(skipped > 0),
        }
