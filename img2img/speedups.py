"""Optional speed levers applied to a task's networks: channels-last memory and torch.compile.

Both are off by default: measured on the development CPU neither helps the pix2pix and
CycleGAN networks (docs/benchmarks.md). Each works on every task through
:func:`img2img.tasks.task_modules`, so no recipe knows about them, and neither changes a
checkpoint: ``nn.Module.compile`` compiles in place, so parameter names stay as they are
(no ``_orig_mod.`` prefix), and the model files are written contiguous.
"""

from __future__ import annotations

import torch
from torch import nn

from img2img.losses import Adversary
from img2img.tasks import Task, task_modules


def use_channels_last(task: Task) -> None:
    """Store every 4-D weight of the task's networks channels-last (NHWC). A convolution
    whose weight is channels-last runs channels-last whatever its input, so the batches
    need no conversion. Call it before the optimizers hold any state."""
    for module in task_modules(task):
        module.to(memory_format=torch.channels_last)


def compile_networks(task: Task) -> list[nn.Module]:
    """``torch.compile`` each network the task calls, in place; returns those compiled.

    A two-way generator (``nn.ModuleDict``) compiles each direction. A discriminator whose
    Adversary uses a gradient penalty or R1 stays eager: those differentiate through its
    gradient (double backward), which compiled graphs do not support. Compilation happens
    on the first call, so the first iterations are slow.
    """
    compiled = []
    for module in task_modules(task):
        if isinstance(module, Adversary):
            if not (module.gp_weight or module.r1_weight):
                compiled.append(module.discriminator)
        elif isinstance(module, nn.ModuleDict):
            compiled.extend(module.values())
        else:
            compiled.append(module)
    for network in compiled:
        network.compile()
    return compiled
