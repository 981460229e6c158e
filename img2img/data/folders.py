"""Image-folder datasets: finding the files, the train/test layout rule, and aligned A|B pairs."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.augment import augmenter_for
from img2img.data.sampler import Key, epoch_and_index
from img2img.data.transforms import make_generator, preprocess_images, resize
from img2img.images import (
    IMAGE_EXTENSIONS,
    ImageError,
    is_image_file,
    load_image,
    pil_to_channels,
)

DIRECTIONS = ("AtoB", "BtoA")


def find_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursively), sorted, so the index of a file is stable.

    Hidden files and folders (names starting with ".") are left out: they are editor and
    OS litter such as ``.ipynb_checkpoints/`` or macOS ``._photo.jpg`` resource forks,
    which carry an image extension but are not images.
    """
    root = Path(root)
    if not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "folder not found"
        raise FileNotFoundError(f"{root}: {problem}; pass the folder that holds the images")
    files = sorted(
        path
        for path in root.rglob("*")
        if is_image_file(path)
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not files:
        looked_for = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise ValueError(f"{root}: no images found (looked for {looked_for}, in subfolders too)")
    return files


def resolve_split(root: str | os.PathLike, split: str) -> Path | None:
    """The folder holding ``split`` ("train" or "test") of the dataset at ``root``.

    train: ``ROOT/train`` if it exists, else ``ROOT`` itself, so a flat folder of images
    works. test: ``ROOT/test``, else ``ROOT/val``, else None (no held-out data).
    A ``ROOT`` with a test/ or val/ folder but no train/ folder is refused for training,
    because using ``ROOT`` itself would train on the held-out images.
    """
    root = Path(root)
    if split == "train":
        if (root / "train").is_dir():
            return root / "train"
        held_out = [name for name in ("test", "val") if (root / name).is_dir()]
        if held_out:
            raise ValueError(
                f"{root}: has a {held_out[0]}/ folder but no train/ folder; move the training "
                f"images into {root / 'train'} so the {held_out[0]} images are not trained on"
            )
        return root
    if split == "test":
        return next((root / name for name in ("test", "val") if (root / name).is_dir()), None)
    raise ValueError(f"split={split!r}: choose 'train' or 'test'")


def paired_folders(split_root: str | os.PathLike) -> tuple[Path, Path] | None:
    """``(SPLIT/A, SPLIT/B)`` when both folders exist, else None."""
    root = Path(split_root)
    folders = root / "A", root / "B"
    return folders if all(folder.is_dir() for folder in folders) else None


def match_by_name(first: Path, second: Path, second_suffix: str = "") -> list[tuple[Path, Path]]:
    """The images of folder ``first`` paired with those of ``second`` that have the same
    path and name up to the extension (``A/0001.png`` with ``B/0001.jpg``), sorted by name;
    ``second_suffix`` may end the names in ``second`` (``"x4"``: DIV2K's ``0001x4.png`` pairs
    with ``0001.png``). Names found in only one folder, or twice in one, are a ValueError
    listing them: a pair is never guessed."""
    sides = []
    for folder, suffix in ((first, ""), (second, second_suffix)):
        by_name: dict[Path, list[Path]] = {}
        for path in find_images(folder):
            name = path.relative_to(folder).with_suffix("")
            if suffix and name.name.endswith(suffix):
                name = name.with_name(name.name[: -len(suffix)])
            by_name.setdefault(name, []).append(path)
        sides.append(by_name)
    problems = []
    for folder, by_name in zip((first, second), sides, strict=True):
        twice = sorted(str(name) for name, paths in by_name.items() if len(paths) > 1)
        if twice:
            problems.append(f"names used by two files in {folder}: {_some(twice)}")
    for folder, mine, theirs in ((first, *sides), (second, *reversed(sides))):
        alone = sorted(str(name) for name in mine.keys() - theirs.keys())
        if alone:
            problems.append(f"only in {folder}: {_some(alone)}")
    if problems:
        raise ValueError(
            f"{first} and {second} must hold the same file names, one image of a pair in "
            f"each ({'; '.join(problems)})"
        )
    return [(sides[0][name][0], sides[1][name][0]) for name in sorted(sides[0])]


def _some(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


T = TypeVar("T")


def read_first_usable(
    files: list[Path], start: int, read: Callable[[Path], T], none_usable: str
) -> tuple[T, Path, int]:
    """``read(files[start])``, or, while ``read`` raises ImageError (each warned about, the
    message naming the file), the next file's, wrapping round: a damaged file costs a
    training run one substitute item, never a crash. Returns what ``read`` returned, the
    file it read and how many files were skipped to get there (an item counts 1 when its
    own file was bad, so each bad file counts once per epoch). ValueError(``none_usable``)
    when no file reads."""
    for skipped in range(len(files)):
        path = files[(start + skipped) % len(files)]
        try:
            return read(path), path, skipped
        except ImageError as error:
            warnings.warn(f"{error}; skipping it", stacklevel=3)
    raise ValueError(none_usable)


class PairedImageFolder(Dataset):
    """Aligned pairs in either layout: each file holds A on its left half and B on its right
    (pix2pix's), or ``ROOT/A/NAME`` and ``ROOT/B/NAME`` are the two images of a pair
    (BasicSR's and mmagic's; :func:`match_by_name` pairs them and refuses unmatched names).

    Items are ``{"input": (3, S, S) tensor in [-1, 1], "target": same, "path": str,
    "skipped": int}`` with S = ``crop_size``. ``direction="AtoB"`` makes A the input,
    ``"BtoA"`` makes B the input.

    Training (``train=True``) augments as pix2pix does, with its ``preprocess`` options
    (:func:`~img2img.data.transforms.preprocess_images`; by default both halves resized to
    ``load_size`` squared, PIL bicubic, then the same random ``crop_size`` crop) and the
    same random horizontal flip (if ``flip``) applied to both, then the same ``augment``
    pipeline (:mod:`img2img.data.augment`; none by default). The randomness of item
    ``index`` is drawn from a generator seeded by (seed, epoch, index), never the global
    RNG, so an item is the same whatever the worker count and after a resume. The epoch
    comes with the key, ``dataset[(epoch, index)]`` (what ``ResumableSampler(with_epoch=True)``
    yields, so persistent DataLoader workers see every epoch), or from :meth:`set_epoch`
    for a plain ``dataset[index]``.
    Evaluation (``train=False``) resizes straight to ``crop_size`` (by default; the centre
    of the preprocessed image otherwise), with no randomness.

    A file that cannot be used (undecodable, or an odd width that does not split into
    equal halves) does not stop the epoch: a warning names it and the next usable file
    takes its place; ``"skipped"`` is 1 for such a stand-in, so summed over an epoch it
    counts each unusable file once (the trainer logs the total).
    """

    # The input half's resize filter; label maps need NEAREST (see data/labels.py).
    input_resample = Image.Resampling.BICUBIC

    def __init__(
        self,
        root: str | os.PathLike,
        direction: str = "AtoB",
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
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r}: choose 'AtoB' or 'BtoA'")
        check_augmentation(load_size, crop_size, train, seed)
        self.root = Path(root)
        folders = paired_folders(root)
        # Item i reads files[i]; in the A/ B/ layout, its pair is partners[files[i]].
        self.partners = dict(match_by_name(*folders)) if folders else {}
        self.files = list(self.partners) if folders else find_images(root)
        self.direction = direction
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.train = train
        self.seed = seed
        self.preprocess, self.size_multiple = preprocess, size_multiple
        self.augmenter = augmenter_for(augment)
        self.channels = channels
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops and flips :meth:`__getitem__` draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: Key) -> dict[str, Tensor | str | int]:
        epoch, index = epoch_and_index(key, self.epoch)
        count = len(self.files)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for {count} images in {self.root}")
        index %= count
        (a, b), path, skipped = read_first_usable(
            self.files,
            index,
            self._read_pair,
            f"{self.root}: none of its {count} images is a usable A|B pair (each was "
            "warned about above); check that the folder holds pix2pix-style aligned images",
        )
        source, target = (a, b) if self.direction == "AtoB" else (b, a)
        source, target = self._augment(source, target, epoch, index)
        return {
            "input": pil_to_channels(source, self.channels),
            "target": pil_to_channels(target, self.channels),
            "path": str(path),
            "skipped": int(skipped > 0),
        }

    @property
    def all_files(self) -> list[Path]:
        """Every file the dataset reads (both folders of the A/ B/ layout)."""
        return self.files + list(self.partners.values())

    def _read_pair(self, path: Path) -> tuple[Image.Image, Image.Image]:
        if not self.partners:
            return split_aligned(load_image(path), path)
        return load_image(path), load_image(self.partners[path])

    def _augment(
        self, source: Image.Image, target: Image.Image, epoch: int, index: int
    ) -> tuple[Image.Image, Image.Image]:
        generator = make_generator(self.seed, epoch, index) if self.train else None
        if target.size != source.size:  # A/ B/ files of one pair: B takes A's size
            target = resize(target, (source.height, source.width))
        source, target = preprocess_images(
            [source, target], self.preprocess, self.load_size, self.crop_size, self.flip,
            generator, self.size_multiple, [self.input_resample, Image.Resampling.BICUBIC],
        )  # fmt: skip
        if self.augmenter is not None and generator is not None:
            source, target = self.augmenter([source, target], generator)
        return source, target


def check_augmentation(load_size: int, crop_size: int, train: bool, seed: int) -> None:
    """Refuse a random crop larger than the resized image, and a negative seed."""
    if train and crop_size > load_size:
        raise ValueError(
            f"crop_size={crop_size} is larger than load_size={load_size}: "
            "the random crop is taken from the resized image, so use crop_size <= load_size"
        )
    if seed < 0:
        raise ValueError(f"seed={seed}: use a non-negative integer")


def split_aligned(image: Image.Image, path: str | os.PathLike) -> tuple[Image.Image, Image.Image]:
    """Split an A|B image into its left (A) and right (B) halves; ``path`` is for the error."""
    width, height = image.size
    if width % 2:
        raise ImageError(
            path,
            f"width {width} is odd, so it does not split into equal A|B halves "
            "(an aligned image is A and B side by side, each half the width)",
        )
    half = width // 2
    return image.crop((0, 0, half, height)), image.crop((half, 0, width, height))
