"""Image quality metrics that work offline.

- :func:`psnr`, :func:`ssim` (:mod:`img2img.metrics.pixel`): full-reference, RGB or Y channel.
- :func:`fid`, :func:`kid` (:mod:`img2img.metrics.distances`): distribution distances over
  the TF Inception-v3 pool3 features (:mod:`img2img.metrics.inception_features`).
- :func:`lpips` (:mod:`img2img.metrics.lpips_distance`): learned perceptual distance, when the
  trunk weights are on disk.
- :func:`evaluate` (:mod:`img2img.metrics.evaluate`): a model on a test folder, all of the above.

Importing this package is light: torch only; numpy/scipy, the Inception network and the
``lpips`` package load on first use.
"""

from __future__ import annotations

from typing import Any

from img2img.metrics.pixel import psnr, ssim

__all__ = ["evaluate", "fid", "kid", "lpips", "psnr", "ssim"]

_LAZY = {
    "fid": "img2img.metrics.distances",
    "kid": "img2img.metrics.distances",
    "lpips": "img2img.metrics.lpips_distance",
    "evaluate": "img2img.metrics.evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'img2img.metrics' has no attribute {name!r}")
