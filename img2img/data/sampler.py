"""A shuffling sampler whose order is a pure function of (seed, epoch), so training can resume
mid-epoch on exactly the samples an uninterrupted run would have seen next.

How a trainer uses it (the batch size must not change across the resume)::

    sampler = ResumableSampler(len(dataset), seed=seed)
    loader = DataLoader(dataset, batch_size=bs, sampler=sampler, drop_last=True)
    first_epoch, start_index = resume_position(step, len(dataset), bs, drop_last=True)
    for epoch in range(first_epoch, epochs):
        sampler.set_epoch(epoch, start_index)  # skips already-seen samples without decoding them
        dataset.set_epoch(epoch)               # the dataset's crops depend on the epoch too
        start_index = 0
        for batch in loader:
            ...

``set_epoch`` must be called at the start of every epoch (as with torch's
``DistributedSampler``); otherwise each epoch repeats the previous order.

For data-parallel training each process builds the sampler with its ``rank`` and the
``num_replicas`` processes: all share the epoch order, and process r takes every
``num_replicas``-th sample from position r, as torch's ``DistributedSampler`` does. So the
batches of one step, taken together, are the ``batch_size * num_replicas`` consecutive samples
a single process with that batch size would use, and ``start_index`` counts samples of the
whole epoch order (all processes), which keeps resumption exact.

With ``with_epoch=True`` the sampler yields ``(epoch, index)`` keys instead, and datasets
whose items depend on the epoch (:func:`epoch_and_index`) read the epoch from the key. The
epoch then travels with each index to the DataLoader workers, so the workers can persist
across epochs (their copy of the dataset is never told ``set_epoch``); the Trainer works so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeAlias

import torch
from torch.utils.data import Sampler

from img2img.data.transforms import make_generator

# A dataset key: an index, or an (epoch, index) pair from ``ResumableSampler(with_epoch=True)``.
Key: TypeAlias = int | tuple[int, int]


def epoch_and_index(key: Key, current_epoch: int) -> tuple[int, int]:
    """``(epoch, index)`` of a dataset key; a plain index belongs to ``current_epoch`` (the
    one ``set_epoch`` selected)."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return current_epoch, int(key)


class ResumableSampler(Sampler[Key]):
    """Yields indices 0 .. n-1 in an order fixed by (seed, epoch), from ``start_index`` on
    (this process's share of them when ``num_replicas > 1``).

    With ``shuffle=False`` the order is 0, 1, ..., n-1 every epoch; with ``with_epoch`` each
    index comes as an ``(epoch, index)`` key (see the module docstring). With several
    replicas the order is cut to a multiple of ``num_replicas`` so that every process gets as
    many samples, hence as many batches: a process with one batch more would wait forever for
    the others to join its gradient averaging.
    """

    def __init__(
        self,
        data_source_len: int,
        seed: int = 0,
        shuffle: bool = True,
        start_epoch: int = 0,
        start_index: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        with_epoch: bool = False,
    ) -> None:
        if data_source_len <= 0:
            raise ValueError(f"data_source_len must be positive, got {data_source_len}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank={rank} is not one of the {num_replicas} replicas' ranks")
        self.data_source_len = data_source_len
        self.seed = seed
        self.shuffle = shuffle
        self.num_replicas = num_replicas
        self.rank = rank
        self.with_epoch = with_epoch
        self.set_epoch(start_epoch, start_index)

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        """Select the epoch to iterate and how many of its first samples to skip."""
        if not 0 <= start_index <= self.data_source_len:
            raise ValueError(
                f"start_index={start_index} is outside the epoch of {self.data_source_len} samples"
            )
        self.epoch = epoch
        self.start_index = start_index

    def epoch_order(self) -> list[int]:
        """The full order of the current epoch, skipped samples included."""
        if not self.shuffle:
            return list(range(self.data_source_len))
        generator = make_generator(self.seed, self.epoch)
        return torch.randperm(self.data_source_len, generator=generator).tolist()

    def _positions(self) -> range:
        """Positions in the epoch order that this replica yields."""
        usable = self.data_source_len - self.data_source_len % self.num_replicas
        return range(self.start_index + self.rank, usable, self.num_replicas)

    def __iter__(self) -> Iterator[Key]:
        order = self.epoch_order()
        indices = [order[position] for position in self._positions()]
        if self.with_epoch:
            return iter([(self.epoch, index) for index in indices])
        return iter(indices)

    def __len__(self) -> int:
        return len(self._positions())


def resume_position(
    step: int, num_samples: int, batch_size: int, drop_last: bool
) -> tuple[int, int]:
    """Where optimizer step ``step`` (0-based count of batches already done) falls:
    ``(epoch, start_index)`` for :meth:`ResumableSampler.set_epoch`.

    An epoch is ``len(DataLoader)`` batches: ``num_samples // batch_size`` with
    ``drop_last``, else rounded up (the last batch is short). Dividing samples seen by
    ``num_samples`` would be wrong in both cases, since dropped or short batches do
    not advance a whole ``batch_size``.
    """
    if drop_last:
        steps_per_epoch = num_samples // batch_size
    else:
        steps_per_epoch = math.ceil(num_samples / batch_size)
    if steps_per_epoch == 0:
        raise ValueError(
            f"{num_samples} samples make no batch of {batch_size} with drop_last=True: "
            "lower the batch size or add data"
        )
    epoch, batch_in_epoch = divmod(step, steps_per_epoch)
    return epoch, batch_in_epoch * batch_size
