"""The Task interface and the registry recipes join with :func:`register_task`.

A recipe is a class; this decorator, written above it in its own module, is all that makes it
part of img2img::

    @register_task("pix2pix", evaluation="aligned", demo_tab="translate")
    class Pix2Pix(StateFromParts):
        Config = Pix2PixConfig
        ...

``evaluation`` names the protocol ``img2img eval`` and ``--val-every`` measure its models by
(:data:`img2img.metrics.protocols.EVALUATIONS`), ``demo_tab`` the web demo's tab (with its
API endpoint) that runs them (:data:`img2img.demo.TABS`), ``directions`` the networks
of a model that translates both ways, and ``pipeline_tag`` what its models do in the
Hugging Face Hub's words (their cards' ``pipeline_tag``, :mod:`img2img.model_cards`).
Generic code reads these from the registry and never names a recipe. The decorator checks
the class against :class:`Task` when it is defined, so a recipe that forgets a member fails
at import, naming what is missing.

A recipe in another package registers the same way and declares its module in the
``img2img.tasks`` entry-point group, which :data:`TASKS` imports on first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn
from torch.utils.data import Dataset

from img2img.config import TrainConfig
from img2img.optim import Stepper
from img2img.registry import Registry

TASKS: Registry[type[Task]] = Registry("task", "img2img.tasks")

# The members :func:`register_task` requires (instance attributes are the Trainer's check).
REQUIRED = (
    "Config", "dataset", "build_generator", "per_image_statistics", "step", "sample",
    "state_dict", "load_state_dict",
)  # fmt: skip

C = TypeVar("C", bound=type)


class Task(Protocol):
    """The members every task class has.

    - ``Config``: its config dataclass (a :class:`~img2img.config.TrainConfig`), whose
      defaults reproduce the paper and whose ``task`` field defaults to the registered name.
    - ``name``, ``evaluation``, ``demo_tab``, ``directions``, ``pipeline_tag``: set by
      :func:`register_task`.
    - ``dataset(config, split, augment=None)``: a Dataset for "train" or "test" (None when the
      split does not exist); ``augment`` defaults to True for "train".
    - ``build_generator(config)``: the network ``translate``/``sample`` run, rebuilt from a
      saved config; an ``nn.ModuleDict`` keyed by ``directions`` for a two-way model.
    - ``per_image_statistics(config)``: whether batch norm should normalise each image by its
      own statistics at inference (:func:`img2img.nets.batchnorm.inference_copy`).
    - ``Task(config, total_steps, decay_steps, device)``; ``step(batch) -> dict[str, float]``
      (one iteration), ``sample(batch) -> list[Tensor]`` (the columns of a progress grid),
      ``generator``, ``steppers`` (name -> Stepper, for the LR schedule tick) and
      ``state_dict()`` / ``load_state_dict()``.

    The Trainer finds a task's networks among its attributes (:func:`task_modules`).
    """

    Config: type[TrainConfig]
    name: str
    evaluation: str
    demo_tab: str
    directions: tuple[str, ...]
    pipeline_tag: str
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
    - ``default_mask(config, size) -> Tensor``: an inpainting task's mask (1, 1, H, W) for
      an image the user gave no mask for (:class:`img2img.infer.Translator`).
    - ``Config.presets(values) -> dict``: defaults that depend on other options, placed by
      :func:`img2img.config.merge` between the dataclass defaults and the user's layers.
    """

    def write_samples(self, batch: dict[str, Any], path: Path, step: int) -> None: ...

    def monitor(self) -> tuple[dict[str, float], dict[str, str]]: ...


def register_task(
    name: str,
    *,
    evaluation: str,
    demo_tab: str,
    directions: tuple[str, ...] = (),
    pipeline_tag: str = "image-to-image",
) -> Callable[[C], C]:
    """Class decorator: register a recipe under ``name`` with the protocol that evaluates its
    models, the demo tab that runs them, for a two-way model its direction names (the keys
    of its generator's ``ModuleDict``) and the Hub's ``pipeline_tag`` for what its models do
    (``"image-to-image"``, or ``"unconditional-image-generation"`` for models that draw from
    noise). Raises TypeError when the class lacks a member of :class:`Task` or its config
    does not name the task."""

    def register(cls: C) -> C:
        missing = [member for member in REQUIRED if not hasattr(cls, member)]
        if missing:
            raise TypeError(f"task {name!r} ({cls.__name__}) lacks {', '.join(missing)}")
        config = cls.Config
        if not (dataclasses.is_dataclass(config) and issubclass(config, TrainConfig)):
            raise TypeError(f"task {name!r}: Config must be a TrainConfig dataclass")
        if config.task != name:  # a saved config's "task" must find this class again
            raise TypeError(
                f"task {name!r}: {config.__name__}.task defaults to {config.task!r}; "
                f'declare task: str = option("{name}", ...)'
            )
        cls.name, cls.evaluation, cls.demo_tab = name, evaluation, demo_tab
        cls.directions, cls.pipeline_tag = tuple(directions), pipeline_tag
        return TASKS.register(name, cls)

    return register


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``; an unknown name lists the valid ones."""
    return TASKS[name]


def all_directions() -> tuple[str, ...]:
    """Every direction name a registered two-way task has (``--direction``'s choices)."""
    names = (way for _, task in TASKS.items() for way in task.directions)
    return tuple(dict.fromkeys(names))


T = TypeVar("T")


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
