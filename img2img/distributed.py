"""Data-parallel training under ``torchrun``: one process per device, gradients averaged by
``DistributedDataParallel`` (DDP).

torchrun starts the processes and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the
rendezvous address in each one's environment; :meth:`World.from_environment` reads them and
joins the process group (gloo on CPU, nccl on CUDA, device ``cuda:LOCAL_RANK``). Without
torchrun (or with one process) the World is a single process and nothing here does anything.

Which networks are trained is generic, not per task: a task's ``generator`` (each entry when
it is an ``nn.ModuleDict`` of directions) and the discriminator of every
:class:`~img2img.losses.Adversary` among the task's attributes. :func:`replicate` wraps each of
them in DDP. The wrappers share the parameters and buffers of the task's own modules, which
stay plain: ``state_dict()``, checkpoints, EMA and sample grids see the same modules, with the
same keys, as in a single process (no ``module.`` prefixes).

GAN pitfall: the generator's adversarial term runs D forward with D frozen. Through DDP that
forward would leave D's gradient reducer waiting for gradients that never come, so the
Adversary calls the bare module (``wrapper.module``) on the generator's turn; D gets no
update then, so nothing needs synchronising.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from img2img.losses import Adversary
from img2img.tasks import task_members


def check_device_count(local_processes: int, device_count: int) -> None:
    """One CUDA device per process: refuse more processes on a node than it has GPUs."""
    if local_processes > device_count:
        raise RuntimeError(
            f"torchrun started {local_processes} processes on this node but it has "
            f"{device_count} CUDA device(s); DDP needs one device per process: use "
            f"--nproc-per-node {device_count} or fewer (or train on the CPU with --device cpu)"
        )


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    device: torch.device
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_environment(cls, device: torch.device) -> World:
        """The World torchrun describes in the environment, with the process group joined.

        ``device`` is the resolved ``--device``; under torchrun a CUDA device becomes
        ``cuda:LOCAL_RANK`` (an explicit index is refused when a node runs several
        processes: choose GPUs with ``CUDA_VISIBLE_DEVICES`` instead).
        """
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls(device)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
        if device.type == "cuda":
            local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            if device.index is not None and local_processes > 1:
                raise ValueError(
                    f"--device {device} under torchrun with {local_processes} processes per "
                    "node: each process uses cuda:LOCAL_RANK; pass --device cuda (or auto) and "
                    "choose the GPUs with CUDA_VISIBLE_DEVICES"
                )
            if device.index is None:
                check_device_count(local_processes, torch.cuda.device_count())
                device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(device, rank=rank, local_rank=local_rank, size=size)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, sample grids and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def seed(self, seed: int) -> None:
        """Give this process its own stream of the global RNG (dropout, noise, image-pool
        draws), derived from (seed, rank). Call it after the networks are built, so every
        process starts from the same weights. Crops and flips need nothing: they are drawn
        per sample from (seed, epoch, index), whichever process loads the sample."""
        if self.distributed:
            state = np.random.SeedSequence([seed, self.rank]).generate_state(1, np.uint64)[0]
            torch.manual_seed(int(state))

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def _all_reduce(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (every process must pass the same keys)."""
        if not self.distributed or not values:
            return values
        totals = self._all_reduce(list(values.values()))
        return {name: total / self.size for name, total in zip(values, totals, strict=True)}

    def sum(self, value: int) -> int:
        """``value`` summed over the processes."""
        return int(self._all_reduce([value])[0]) if self.distributed else value

    def any(self, flag: bool) -> bool:
        """Whether any process says yes: a stop asked of one process stops them all at the
        same iteration (a process left training alone would wait forever for the others)."""
        return bool(self._all_reduce([float(flag)])[0]) if self.distributed else flag

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's ``value`` (any picklable object) as a list on rank 0, None on the
        others; a single process gets ``[value]``."""
        if not self.distributed:
            return [value]
        gathered = [None] * self.size if self.is_main else None
        dist.gather_object(value, gathered, dst=0)
        return gathered


def shutdown() -> None:
    """Leave the process group, if one was joined (torch warns at exit otherwise).

    Call it once the Trainer is unreferenced. Its DDP wrappers hold the group and sit in
    reference cycles (modules and their hooks), so a collection here frees them while the
    interpreter is whole; left to interpreter exit, gloo's worker threads are torn down in no
    set order, the suspected cause of a rare abort after a finished run ("terminate called
    without an active exception" on a rank that had saved and left the group)."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def sharing_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that shares its parameters and buffers (so it trains the same
    tensors) but has modules of its own, which may then be swapped for other kinds."""
    shared = itertools.chain(module.parameters(), module.buffers())
    return copy.deepcopy(module, memo={id(tensor): tensor for tensor in shared})


def check_sync_bn(world: World, sync_bn: bool) -> None:
    if sync_bn and world.distributed and world.device.type != "cuda":
        raise ValueError(
            "--sync-bn needs CUDA devices (torch's SyncBatchNorm runs on GPUs only); on the "
            "CPU drop it, or use --norm instance, whose statistics are per image anyway"
        )


def wrap(module: nn.Module, world: World, sync_bn: bool = False) -> DistributedDataParallel:
    """``module`` in DDP. Construction broadcasts rank 0's parameters and buffers, so every
    process starts from the same weights; each forward broadcasts rank 0's buffers (batch-norm
    running statistics) again. With ``sync_bn`` the wrapped network is a :func:`sharing_copy`
    whose batch-norm layers are ``SyncBatchNorm``, so the task's own module keeps plain
    ``BatchNorm`` for sampling and saving."""
    if sync_bn:
        module = nn.SyncBatchNorm.convert_sync_batchnorm(sharing_copy(module))
    device_ids = [world.device] if world.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def adversaries(task: Any) -> list[Adversary]:
    """Every Adversary a task holds (see :func:`img2img.tasks.task_members`)."""
    return task_members(task, Adversary)


class Replicas:
    """A task's trained networks in DDP (see the module docstring); :meth:`active` puts the
    wrapped generator in place for one ``task.step``. A single process gets a no-op."""

    def __init__(self, task: Any, world: World, sync_bn: bool = False) -> None:
        self.task = task
        self.generator: nn.Module | None = None
        if not world.distributed:
            return
        check_sync_bn(world, sync_bn)
        generator = task.generator
        if isinstance(generator, nn.ModuleDict):  # one network per direction: wrap each
            self.generator = nn.ModuleDict(
                {name: wrap(net, world, sync_bn) for name, net in generator.items()}
            )
        else:
            self.generator = wrap(generator, world, sync_bn)
        for adversary in adversaries(task):
            adversary.distribute(wrap(adversary.discriminator, world, sync_bn))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Within the block ``task.generator`` is the DDP-wrapped one; the plain module is
        back afterwards, for saving, EMA and sampling."""
        if self.generator is None:
            yield
            return
        plain = self.task.generator
        self.task.generator = self.generator
        try:
            yield
        finally:
            self.task.generator = plain
