"""Task recipes: each builds its networks and Adversaries and defines one training iteration.

A task is a class with this interface (the Trainer, ``translate`` and the CLI rely on it
and on nothing else):

- ``Config``: its config dataclass, whose defaults reproduce the paper.
- ``dataset(config, split, augment=None)``: a Dataset for "train" or "test" (None when the
  split does not exist); ``augment`` defaults to True for "train".
- ``build_generator(config)``: the network ``translate`` runs, rebuilt from a saved config;
  an ``nn.ModuleDict`` maps direction names to networks when a model translates both ways
  (CycleGAN: "AtoB", "BtoA"), and ``translate(..., direction=...)`` picks one. Such a task
  names them in a class attribute ``directions`` (read by ``img2img.list_models``).
- ``per_image_statistics(config)``: whether batch norm should normalise each image by its own
  statistics at inference (see :func:`img2img.nets.batchnorm.inference_copy`).
- ``evaluation``: the protocol ``img2img eval`` measures its models by (:data:`EVALUATIONS`),
  and ``demo_tab``: the demo tab that runs them (:data:`DEMO_TABS`), so no caller keeps a
  list of task names.
- ``Task(config, total_steps, decay_steps, device)`` with ``step(batch) -> dict[str, float]``,
  ``sample(batch) -> list[Tensor]`` (the columns of a progress grid), ``generator``,
  ``steppers`` (name -> Stepper, for the LR schedule tick) and ``state_dict()`` /
  ``load_state_dict()``.

The Trainer finds a task's networks among its attributes (:func:`task_modules`): the
generator and the Adversaries, held as modules or dicts of modules.

Optional members, looked up with ``getattr`` where they are used and listed in
:class:`TaskHooks`: ``write_samples`` and ``monitor`` (the Trainer), ``directions`` (two-way
models), and the config class's ``presets`` (:func:`img2img.config.merge`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn
from torch.utils.data import Dataset

from img2img.config import TrainConfig
from img2img.optim import Stepper
from img2img.tasks.cyclegan import CycleGAN
from img2img.tasks.ddgan import DDGAN
from img2img.tasks.gan import GAN
from img2img.tasks.inpaint import Inpaint
from img2img.tasks.pix2pix import Pix2Pix
from img2img.tasks.pix2pixhd import Pix2PixHD
from img2img.tasks.progan import ProGAN
from img2img.tasks.srgan import SRGAN
from img2img.tasks.vqgan import VQGAN

# How ``img2img eval`` measures a task's models (see :mod:`img2img.metrics.evaluate`):
# "aligned": outputs of the test inputs against their aligned targets (PSNR, SSIM, LPIPS,
# FID, KID); "unaligned": the targets only as the real images of FID/KID; "two-way": each
# direction against the other domain; "super-resolution": LR made from HR test images,
# with the bicubic baseline; "samples": images drawn from noise against real images;
# "inpainting": holes filled in test images, over the hole and the whole image, with the
# OpenCV (Telea) baseline; "autoencoder": reconstructions of the test images, plus the codes'
# usage and size.
EVALUATIONS = (
    "aligned", "unaligned", "two-way", "super-resolution", "samples", "inpainting", "autoencoder",
)  # fmt: skip
# The web demo's tabs (:mod:`img2img.demo`).
DEMO_TABS = ("translate", "super-resolve", "sample", "inpaint", "autoencode")


class Task(Protocol):
    """The members every task class has (see the module docstring)."""

    Config: type[TrainConfig]
    evaluation: str
    demo_tab: str
    generator: nn.Module
    steppers: dict[str, Stepper]

    def __init__(
        self, config: Any, total_steps: int, decay_steps: int, device: torch.device
    ) -> None: ...

    @staticmethod
    def dataset(config: Any, split: str, augment: bool | None = None) -> Dataset | None: ...

    @staticmethod
    def build_generator(config: Any) -> nn.Module: ...

    @staticmethod
    def per_image_statistics(config: Any) -> bool: ...

    def step(self, batch: dict[str, Any]) -> dict[str, float]: ...

    def sample(self, batch: dict[str, Any]) -> list[torch.Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TaskHooks(Protocol):
    """Optional members of a task; whoever uses one looks it up with ``getattr`` and has a
    default for tasks without it.

    - ``write_samples(batch, path, step)``: write the progress image at ``path`` (the
      Trainer's default is a grid of the ``sample(batch)`` columns); the GAN writes a
      fixed-z grid, or a scatter plot over D's decision surface for 2-D data.
    - ``monitor() -> (metrics, warnings)``: called at each log flush; metrics join the log
      and the progress bar, warnings (name -> message) are printed and logged
      (:mod:`img2img.watch`).
    - ``directions``: class attribute of a two-way task, the keys of its generator's
      ``ModuleDict`` (CycleGAN: ``("AtoB", "BtoA")``), read by :mod:`img2img.catalog`.
    - ``default_mask(config, size) -> Tensor``: an inpainting task's mask (1, 1, H, W) for
      an image the user gave no mask for (:class:`img2img.infer.Translator`).
    - ``Config.presets(values) -> dict``: defaults that depend on other options, placed by
      :func:`img2img.config.merge` between the dataclass defaults and the user's layers.
    """

    directions: tuple[str, ...]

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None: ...

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]: ...


T = TypeVar("T")

TASKS: dict[str, type[Task]] = {
    "pix2pix": Pix2Pix,
    "pix2pixhd": Pix2PixHD,
    "cyclegan": CycleGAN,
    "gan": GAN,
    "srgan": SRGAN,
    "ddgan": DDGAN,
    "inpaint": Inpaint,
    "progan": ProGAN,
    "vqgan": VQGAN,
}


def task_members(task: Any, kind: type[T]) -> list[T]:
    """Every ``kind`` object a task holds as an attribute or inside a dict, list or tuple
    attribute, once each (however many places hold it): how the Trainer finds a task's
    networks (to convert, compile, guard or distribute them) and its Adversaries, for every
    task alike, with no per-task list to keep up to date."""
    found: dict[int, T] = {}
    for value in vars(task).values():
        if isinstance(value, dict):
            value = list(value.values())
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, kind):
                found.setdefault(id(item), item)
    return list(found.values())


def task_modules(task: Any) -> list[nn.Module]:
    """Every module a task holds (the generator, an Adversary, CycleGAN's dict of them)."""
    return task_members(task, nn.Module)


def get_task(name: str) -> type[Task]:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
