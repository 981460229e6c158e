"""Task recipes: each builds its networks and Adversaries and defines one training iteration.

A recipe registers itself where it is defined (:func:`register_task`, see
:mod:`img2img.tasks.registry` for the interface); this package imports the built-in recipes
by name, so ``TASKS`` lists them as soon as ``img2img.tasks`` is imported. Recipes of other
packages join through the ``img2img.tasks`` entry-point group.
"""

from __future__ import annotations

from img2img.tasks import (  # noqa: F401  (each module registers its recipe)
    cyclegan,
    ddgan,
    gan,
    inpaint,
    pix2pix,
    pix2pixhd,
    progan,
    srgan,
    vqgan,
)
from img2img.tasks.registry import (
    TASKS,
    Task,
    TaskHooks,
    all_directions,
    get_task,
    register_task,
    task_members,
    task_modules,
)

# What `img2img train` trains when no --task is given (nor one in --config or the resumed run).
DEFAULT_TASK = "pix2pix"

__all__ = [
    "DEFAULT_TASK",
    "TASKS",
    "Task",
    "TaskHooks",
    "all_directions",
    "get_task",
    "register_task",
    "task_members",
    "task_modules",
]
