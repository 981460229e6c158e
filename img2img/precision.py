"""Mixed precision: which autocast dtype a device can use, and the context that applies it.

``auto`` picks the fastest precision that is safe on the device: bf16 on CUDA GPUs that
support it (fp16 otherwise), bf16 on CPUs with native bf16 instructions (AVX512-BF16 or AMX,
where convolutions run markedly faster), and fp32 on other CPUs, where bf16 is emulated and
about a hundred times slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_supports_bf16() else None


def setup_task_precision(task: Any, precision: str, device: torch.device) -> torch.dtype | None:
    """Resolve ``precision`` for a task and give its Steppers gradient scalers for fp16.
    Returns the dtype to pass to :func:`autocast` around each ``task.step``."""
    dtype = autocast_dtype(precision, device)
    if dtype == torch.float16:
        for stepper in task.steppers.values():
            stepper.use_grad_scaler(device.type)
    return dtype


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Run the block under autocast to ``dtype`` (a no-op for None)."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
