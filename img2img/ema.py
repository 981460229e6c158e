"""Exponential moving average (EMA) of a generator's weights.

Averaging the weights over the last ~1/(1 - decay) iterations smooths out the oscillation
that adversarial training leaves in the generator; the averaged copy usually gives cleaner
samples than the raw weights (Karras et al., Yazici et al.). The average is a separate
module that is never trained, so it costs one copy of the weights and one lerp per step.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def ema_beta(decay: float, rampup: float, step: int) -> float:
    """The weight of the old average at iteration ``step`` (0-based, counted before it):
    ``decay``, or with a ``rampup`` > 0 StyleGAN2's ramp-up (stylegan2-ada-pytorch's
    training_loop): the average's half-life, ``log 0.5 / log decay`` iterations, is capped
    at ``rampup * step``, so ``beta = 0.5 ** (1 / min(half_life, rampup * step))``. At step 0
    beta is 0 (the average starts as a copy), and early weights, which are far from the
    later ones, are forgotten quickly. The reference counts images; the batch size cancels."""
    if rampup <= 0:
        return decay
    half_life = min(math.log(0.5) / math.log(decay), rampup * step)
    return 0.5 ** (1.0 / max(half_life, 1e-8))


class EMA:
    """An averaged copy of ``module``: ``update(module, step)`` after every optimisation
    step. ``rampup`` > 0 shortens the averaging early in training (:func:`ema_beta`).

    Buffers (batch-norm running statistics) are copied, not averaged: they are already
    running averages.
    """

    def __init__(self, module: nn.Module, decay: float, rampup: float = 0.0) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), e.g. 0.999; got {decay}")
        if rampup < 0:
            raise ValueError(f"EMA ramp-up must be >= 0 (0: off, StyleGAN2: 0.05); got {rampup}")
        self.decay, self.rampup = decay, rampup
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int = 0) -> None:
        """Move the average towards ``module``'s weights; ``step`` is the iteration just
        trained (0-based), which only the ramp-up reads."""
        beta = ema_beta(self.decay, self.rampup, step)
        for average, current in zip(self.module.parameters(), module.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - beta)
        for average, current in zip(self.module.buffers(), module.buffers(), strict=True):
            average.copy_(current)

    @contextmanager
    def applied_to(self, module: nn.Module) -> Iterator[nn.Module]:
        """Within the context ``module`` holds the averaged weights; its own are restored on
        exit, bit for bit. For code that draws from ``module`` itself (a task's progress
        grids), so it shows the average without knowing there is one."""
        own = {name: value.clone() for name, value in module.state_dict().items()}
        module.load_state_dict(self.module.state_dict())
        try:
            yield module
        finally:
            module.load_state_dict(own)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)
