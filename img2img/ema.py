"""Exponential moving average (EMA) of a generator's weights.

Averaging the weights over the last ~1/(1 - decay) iterations smooths out the oscillation
that adversarial training leaves in the generator; the averaged copy usually gives cleaner
samples than the raw weights (Karras et al., Yazici et al.). The average is a separate
module that is never trained, so it costs one copy of the weights and one lerp per step.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """An averaged copy of ``module``: ``update(module)`` after every optimisation step.

    Buffers (batch-norm running statistics) are copied, not averaged: they are already
    running averages.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), e.g. 0.999; got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for average, current in zip(self.module.parameters(), module.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - self.decay)
        for average, current in zip(self.module.buffers(), module.buffers(), strict=True):
            average.copy_(current)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)
