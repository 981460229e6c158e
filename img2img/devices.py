"""Which device to run on, from the user's ``--device`` string.

Its own small module, below everything that runs a network, so that loading a model for
inference (``infer``, ``demo``, ``metrics``) does not import the Trainer and with it the
training and distributed code.
"""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; any other name as torch reads it
    (``"cpu"``, ``"cuda:1"``). Asking for CUDA where there is none raises RuntimeError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but CUDA is not available here; use --device cpu")
    return device
