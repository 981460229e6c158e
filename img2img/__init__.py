"""img2img: image-to-image translation with GANs.

Public API: :func:`translate` (by default with the shipped facades-label2photo model),
:func:`load`, :class:`Translator` and :func:`list_models`.
Importing img2img needs no GPU, no network and no Gradio; torch and the networks load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from img2img.version import __version__

__all__ = ["Translator", "__version__", "list_models", "load", "translate"]

if TYPE_CHECKING:
    from img2img.catalog import list_models
    from img2img.infer import Translator, load, translate


def __getattr__(name: str) -> Any:
    # Lazy, so that `import img2img` (and `img2img --help`) stay fast.
    if name in ("translate", "load", "Translator"):
        from img2img import infer

        return getattr(infer, name)
    if name == "list_models":
        from img2img.catalog import list_models

        return list_models
    raise AttributeError(f"module 'img2img' has no attribute {name!r}")
