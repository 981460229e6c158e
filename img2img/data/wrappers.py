"""Datasets made from another one's items: Stacked MNIST and random horizontal flips.

Both draw their randomness from a generator seeded by (seed, epoch, index) and take the
``(epoch, index)`` keys of :class:`~img2img.data.sampler.ResumableSampler` (they have
``set_epoch``), so an item is a pure function of its key: persistent DataLoader workers see
every epoch, and a resumed run draws what the uninterrupted one would have. A plain index
reads the epoch set by ``set_epoch`` (0 until then), which is how evaluation reads them:
the same items every time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.sampler import Key, epoch_and_index
from img2img.data.transforms import make_generator

# Streams of the per-item generator, apart from the crops' and masks' (data/masks.py).
STACK_STREAM = 2
FLIP_STREAM = 3

STACKED_MODES = 1000


def stack_label(digits: tuple[int, int, int]) -> int:
    """The Stacked MNIST mode of a (red, green, blue) digit triple: 100 r + 10 g + b."""
    red, green, blue = digits
    return 100 * red + 10 * green + blue


class _Keyed(Dataset):
    """A dataset over ``source`` whose items depend on (epoch, index)."""

    def __init__(self, source: Dataset, seed: int, stream: int) -> None:
        self.source, self.seed, self.stream = source, seed, stream
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)

    def _generator(self, key: Key) -> tuple[torch.Generator, int]:
        epoch, index = epoch_and_index(key, self.epoch)
        return make_generator(self.seed, epoch, index, self.stream), index

    def _item(self, key: Key) -> dict[str, Any]:
        """The source's item for ``key``: a keyed source is handed the whole key."""
        if hasattr(self.source, "set_epoch"):
            return self.source[key]
        return self.source[epoch_and_index(key, self.epoch)[1]]

    def __getattr__(self, name: str) -> Any:
        # The source's own attributes (``files``, ``num_classes``) show through.
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)


class StackedDigits(_Keyed):
    """Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017): three MNIST digits in the
    red, green and blue channels, so 10**3 = 1000 modes, the mode-collapse benchmark of the
    unrolled-GAN, VEEGAN and PacGAN papers.

    Item ``index`` puts digit ``index`` in red and two digits drawn uniformly from the whole
    set in green and blue, new ones every epoch (the unrolled-GAN paper draws its training
    data on the fly too; PacGAN draws a fixed set of 128,000 triples). Items are
    ``{"image": (3, S, S) in [-1, 1], "label": mode in [0, 1000), "skipped": 0}`` with the
    mode :func:`stack_label` of the three digits' labels.
    """

    num_classes = STACKED_MODES

    def __init__(self, digits: Dataset, seed: int = 0) -> None:
        super().__init__(digits, seed, STACK_STREAM)

    def sources(self, key: Key) -> tuple[int, int, int]:
        """The indices of the three digits of ``key``'s item."""
        generator, index = self._generator(key)
        green, blue = torch.randint(len(self.source), (2,), generator=generator).tolist()
        return index, green, blue

    @property
    def labels(self) -> list[int]:
        """Every item's mode, as the items of the current epoch have them."""
        digits = [int(label) for label in self.source.labels]
        return [stack_label(tuple(digits[i] for i in self.sources(k))) for k in range(len(self))]

    def __getitem__(self, key: Key) -> dict[str, Tensor | int]:
        items = [self.source[i] for i in self.sources(key)]
        return {
            "image": torch.cat([item["image"] for item in items]),
            "label": stack_label(tuple(int(item["label"]) for item in items)),
            "skipped": 0,
        }


class RandomFlip(_Keyed):
    """``source``'s items, each mirrored left-right with probability 1/2 (its ``image``)."""

    def __init__(self, source: Dataset, seed: int = 0) -> None:
        super().__init__(source, seed, FLIP_STREAM)

    def __getitem__(self, key: Key) -> dict[str, Any]:
        item = dict(self._item(key))
        generator, _ = self._generator(key)
        if float(torch.rand((), generator=generator)) < 0.5:
            item["image"] = item["image"].flip(-1)
        return item
