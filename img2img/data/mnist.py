"""MNIST in its original IDX files (LeCun et al.), read with numpy: no torchvision download.

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions,
then one uint32 per dimension) followed by the raw array; the official files are gzipped.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

# IDX type codes -> numpy dtypes (big-endian where it matters).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIXES = {"train": "train", "test": "t10k"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a numpy array of its declared shape and type.

    Raises ``ValueError`` naming the file when the header or the size is wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype = np.dtype(_IDX_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes) but the file holds "
            f"{len(data) - header} bytes; the file is truncated or corrupt"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find(root: Path, prefix: str, kind: str) -> Path | None:
    name = f"{prefix}-{kind}-idx{1 if kind == 'labels' else 3}-ubyte"
    return next((root / (name + s) for s in (".gz", "") if (root / (name + s)).is_file()), None)


def is_mnist_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds MNIST IDX image files (train or t10k)."""
    root = Path(root)
    return root.is_dir() and any(_find(root, p, "images") for p in _PREFIXES.values())


def mnist_split_files(root: str | os.PathLike, split: str) -> tuple[Path, Path] | None:
    """(images, labels) files for ``split``, or None when that split is absent.

    "train" uses ``train-*`` files when present and otherwise the ``t10k-*`` files (a folder
    with only the test split, like ``../shared/data/mnist``, then trains on those). "test" is
    ``t10k-*`` only when a separate training split exists, so a GAN is never evaluated on
    the images it trained on without saying so.
    """
    root = Path(root)
    train = _find(root, "train", "images"), _find(root, "train", "labels")
    test = _find(root, "t10k", "images"), _find(root, "t10k", "labels")
    if split == "train":
        chosen = train if train[0] else test
    elif split == "test":
        chosen = test if train[0] else (None, None)
    else:
        raise ValueError(f"split={split!r}: choose 'train' or 'test'")
    if chosen[0] is None:
        return None
    if chosen[1] is None:
        raise FileNotFoundError(f"{chosen[0]}: found the images but not the matching labels file")
    return chosen[0], chosen[1]


class MNIST(Dataset):
    """MNIST digits from IDX files: items ``{"image": (1, S, S) in [-1, 1], "label": int,
    "skipped": 0}`` with S = ``image_size`` (28 is native; others are bilinear resizes).

    Args:
        images, labels: IDX files (``*-images-idx3-ubyte[.gz]`` and ``*-labels-idx1-ubyte[.gz]``).
        image_size: side of the returned images.
    """

    num_classes = 10

    def __init__(
        self, images: str | os.PathLike, labels: str | os.PathLike, image_size: int = 28
    ) -> None:
        pixels = read_idx(images)
        targets = read_idx(labels)
        if pixels.ndim != 3 or targets.ndim != 1 or len(pixels) != len(targets):
            raise ValueError(
                f"{images}, {labels}: expected N x H x W images and N labels, got shapes "
                f"{pixels.shape} and {targets.shape}"
            )
        x = torch.from_numpy(pixels.astype(np.float32)).unsqueeze(1) / 127.5 - 1
        if x.shape[-1] != image_size:
            x = torch.nn.functional.interpolate(
                x, size=(image_size, image_size), mode="bilinear", align_corners=False
            ).clamp(-1, 1)
        self.images = x
        self.labels = torch.from_numpy(targets.astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        return {"image": self.images[index], "label": int(self.labels[index]), "skipped": 0}
