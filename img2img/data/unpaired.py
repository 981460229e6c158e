"""Unpaired image folders, the CycleGAN layout: two domains with no correspondence.

A dataset folder holds ``trainA/`` and ``trainB/`` (and optionally ``testA/`` and
``testB/``). :func:`split_unpaired` makes that layout out of an aligned A|B dataset.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.augment import augmenter_for
from img2img.data.folders import (
    check_augmentation,
    find_images,
    paired_folders,
    read_first_usable,
    resolve_split,
    split_aligned,
)
from img2img.data.sampler import Key, epoch_and_index
from img2img.data.transforms import make_generator, preprocess_images
from img2img.images import ImageError, load_image, pil_to_channels

DOMAINS = ("A", "B")


def resolve_unpaired(root: str | os.PathLike, split: str) -> tuple[Path, Path] | None:
    """The ``(A, B)`` folders of ``split`` ("train" or "test") of the dataset at ``root``.

    train: ``ROOT/trainA`` and ``ROOT/trainB``, both required. test: ``ROOT/testA`` and
    ``ROOT/testB``, or None when either is absent (no held-out data). The paired layout
    ``ROOT/train/A`` + ``ROOT/train/B`` (and ``test/A`` + ``test/B``) serves as well: its
    pairs are simply not used as pairs.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: choose 'train' or 'test'")
    root = Path(root)
    folders = root / f"{split}A", root / f"{split}B"
    missing = [folder.name for folder in folders if not folder.is_dir()]
    if not missing:
        return folders
    paired = paired_folders(root / split)
    if paired:
        return paired
    if split == "test":
        return None
    hint = ""
    if (root / "train").is_dir() or not root.is_dir():
        hint = (
            "; an aligned A|B dataset becomes one with "
            f"`img2img data split-unpaired --data {root} --out DIR`"
        )
    raise FileNotFoundError(
        f"{root}: no {' or '.join(f'{name}/' for name in missing)} folder; unpaired training "
        f"needs trainA/ and trainB/ folders of images (testA/ and testB/ optional){hint}"
    )


class UnpairedImageFolder(Dataset):
    """Two folders of images, one per domain, with no pairing between them.

    Items are ``{"A": (3, S, S) tensor in [-1, 1], "B": same, "path_A": str, "path_B": str,
    "skipped": int}`` with S = ``crop_size``. An epoch has ``max(len(A), len(B))`` items:
    item ``i`` takes A image ``i mod len(A)`` and, when training, a B image chosen at
    random, so the model never sees a fixed pairing (the CycleGAN reference does the same).

    Training (``train=True``) resizes each image to ``load_size`` squared (PIL bicubic),
    whatever its own size (by default; see ``preprocess`` in
    :func:`~img2img.data.transforms.preprocess_images`), then takes a random ``crop_size``
    crop and a random horizontal flip (if ``flip``) and the ``augment`` pipeline
    (:mod:`img2img.data.augment`), drawn separately for A and B. Every
    random draw of item ``index`` (the B index, then A's crop and flip, then B's) comes
    from a generator seeded by (seed, epoch, index), never the global RNG; the epoch comes
    with the key (``dataset[(epoch, index)]``) or from :meth:`set_epoch`, as in
    :class:`PairedImageFolder`.
    Evaluation (``train=False``) pairs A image ``i`` with B image ``i mod len(B)`` and
    resizes both straight to ``crop_size``, with no randomness.

    Grayscale, palette, RGBA and 16-bit files become 8-bit RGB (see
    :func:`img2img.images.load_image`), so the two domains may differ in format. A file
    that cannot be decoded is skipped with a warning naming it and the next file of its
    domain is used; ``"skipped"`` counts the item's images that needed such a stand-in
    (0, 1 or 2), so summed over an epoch each unusable A file counts once.
    """

    def __init__(
        self,
        root_a: str | os.PathLike,
        root_b: str | os.PathLike,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        train: bool = True,
        seed: int = 0,
        preprocess: str = "resize_and_crop",
        size_multiple: int = 4,
        augment: str = "",
        channels: int = 3,
    ) -> None:
        check_augmentation(load_size, crop_size, train, seed)
        self.preprocess, self.size_multiple = preprocess, size_multiple
        self.augmenter = augmenter_for(augment)
        self.channels = channels
        self.roots = {"A": Path(root_a), "B": Path(root_b)}
        self.files = {domain: find_images(root) for domain, root in self.roots.items()}
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.train = train
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose B choices, crops and flips :meth:`__getitem__` draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return max(len(files) for files in self.files.values())

    def __getitem__(self, key: Key) -> dict[str, Tensor | str | int]:
        epoch, index = epoch_and_index(key, self.epoch)
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for {count} items")
        index %= count
        generator = make_generator(self.seed, epoch, index) if self.train else None
        starts = {"A": index, "B": index}
        if generator is not None:
            starts["B"] = int(torch.randint(len(self.files["B"]), (1,), generator=generator))
        item: dict[str, Tensor | str | int] = {"skipped": 0}
        for domain in DOMAINS:
            image, path, skipped = self._load(domain, starts[domain])
            item[domain] = pil_to_channels(self._augment(image, generator), self.channels)
            item[f"path_{domain}"] = str(path)
            item["skipped"] += int(skipped > 0)
        return item

    def _load(self, domain: str, start: int) -> tuple[Image.Image, Path, int]:
        """The first decodable image of ``domain`` from position ``start`` on (wrapping)."""
        files = self.files[domain]
        return read_first_usable(
            files,
            start,
            load_image,
            f"{self.roots[domain]}: none of its {len(files)} images can be read (each was "
            "warned about above)",
        )

    def _augment(self, image: Image.Image, generator: torch.Generator | None) -> Image.Image:
        (image,) = preprocess_images(
            [image], self.preprocess, self.load_size, self.crop_size, self.flip, generator,
            self.size_multiple,
        )  # fmt: skip
        if self.augmenter is not None and generator is not None:
            (image,) = self.augmenter([image], generator)
        return image


def split_unpaired(
    source: str | os.PathLike, out: str | os.PathLike, disjoint: bool = False
) -> dict[str, int]:
    """Write the halves of an aligned A|B dataset as the unpaired layout.

    For the train split of ``source`` (``source/train``, or ``source`` itself when flat)
    and its test split (``source/test`` or ``source/val``, if any), the left halves go to
    ``out/{split}A/`` and the right halves to ``out/{split}B/`` as PNG files named after
    the source files (lossless, so nothing is degraded twice). With ``disjoint``, A takes
    the halves of the even-numbered files and B those of the odd-numbered ones, so the
    two domains share no scene at all. Unreadable files are skipped with a warning.

    Returns the number of images written per folder, e.g. ``{"trainA": 400, ...}``.
    """
    out = Path(out)
    counts: dict[str, int] = {}
    for split in ("train", "test"):
        folder = resolve_split(source, split)
        if folder is None:
            continue
        for domain in DOMAINS:
            (out / f"{split}{domain}").mkdir(parents=True, exist_ok=True)
            counts[f"{split}{domain}"] = 0
        for number, path in enumerate(find_images(folder)):
            try:
                halves = dict(zip(DOMAINS, split_aligned(load_image(path), path), strict=True))
            except ImageError as error:
                warnings.warn(f"{error}; skipping it", stacklevel=2)
                continue
            domains = [DOMAINS[number % 2]] if disjoint else DOMAINS
            name = "_".join(path.relative_to(folder).with_suffix("").parts) + ".png"
            for domain in domains:
                halves[domain].save(out / f"{split}{domain}" / name)
                counts[f"{split}{domain}"] += 1
    return counts
