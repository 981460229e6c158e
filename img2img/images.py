"""Image conversions at img2img's boundary: files, PIL images, numpy arrays and tensors.

Inside img2img an image is a float32 tensor in [-1, 1], NCHW for a batch and CHW for
one dataset item: [-1, 1] because the generators end in ``tanh``. The public API takes
whatever a user has at hand and gives back the same kind, and every such conversion
lives here, so there is one rounding rule, one rule for transparency and one error
type for files that cannot be read.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})

ImageLike = str | os.PathLike | Image.Image | np.ndarray | Tensor

# PIL modes that hold one channel of (up to) 16-bit integers: 16-bit PNGs open as "I;16"
# (older Pillow: "I"), 16-bit TIFFs as "I;16"/"I;16B".
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# ITU-R 601-2 luma, the weights PIL's convert("L") uses, so both routes agree.
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class ImageError(ValueError):
    """A file that cannot be used as an image. ``str(error)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ImageTooLarge(ImageError):
    """An image over a pixel limit, refused from its header: ``width`` x ``height`` is more
    than ``limit`` pixels. Its own type so that a caller such as the web demo can word the
    advice for its users (the default reason tells a developer which limit to raise)."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, limit: int) -> None:
        self.width, self.height, self.limit = width, height, limit
        super().__init__(
            path,
            f"{width}x{height} pixels is over the limit of {limit:,} pixels; downscale it, or "
            "raise img2img.images.MAX_PIXELS if it is legitimate",
        )


# The largest image decoded, in pixels: PIL's own decompression-bomb threshold (~89.5 Mpx,
# e.g. 9459 x 9459). Raise it here, or pass ``max_pixels``, for larger legitimate images;
# it replaces PIL's limit (see :func:`_open`), so this one number decides.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485

# What load_image decodes, whatever the extension says: the formats of IMAGE_EXTENSIONS plus
# GIF (first frame) and PPM/PGM. PIL's other plugins widen the attack surface for nothing
# (EPS content in a ".png" would be handed to Ghostscript).
READ_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "WEBP", "TIFF", "GIF", "PPM")

_PIL_LIMIT_LOCK = threading.Lock()


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def load_image(
    path: str | os.PathLike, max_pixels: int | None = None, reduce_to: int | None = None
) -> Image.Image:
    """Read an image file as an 8-bit RGB PIL image, upright as a viewer shows it.

    Grayscale, palette, CMYK and 16-bit files are converted (16-bit values scaled so
    that 65535 -> 255), the EXIF orientation is applied, transparency is composited
    over white (see :func:`to_rgb`), and an animated or multi-page file gives its first
    frame. The format is read from the content (a PNG named ``.jpg`` is fine), among
    :data:`READ_FORMATS`. Every failure raises :class:`ImageError` naming the file:
    missing, unreadable, empty, not an image, truncated or corrupt, or larger than
    ``max_pixels`` (default :data:`MAX_PIXELS`), which is checked from the header, before
    decoding, so a hostile or mistaken file cannot exhaust memory.

    ``reduce_to`` (pixels), for a caller that will downscale anyway: a JPEG with more pixels
    is decoded at the smallest of its scales 1/2, 1/4, 1/8 that still holds that many (its
    DCT decodes at those scales directly), and ``max_pixels`` applies to that decoded size,
    so a large photo is never in memory at full size. Other formats decode at full size.
    """
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    path = Path(path)
    if not path.is_file():
        reason = "is a folder, not an image file" if path.is_dir() else "no such file"
        raise ImageError(path, reason)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImageError(path, f"cannot read the file ({exc.strerror or exc})") from None
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ImageError(path, "the file is empty (0 bytes)")
        try:
            with _open(handle) as opened:
                width, height = opened.size
                if reduce_to is not None and width * height > reduce_to:
                    scale = math.sqrt(reduce_to / (width * height))
                    opened.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
                if opened.width * opened.height > limit:
                    raise ImageTooLarge(path, width, height, limit)
                # Image.open only parses the header; load() decodes the pixels, so a
                # truncated or corrupt file fails here instead of somewhere in training.
                opened.load()
                ImageOps.exif_transpose(opened, in_place=True)  # a copy less than returning one
                return to_rgb(opened)
        except ImageError:
            raise  # already names the file; the ValueError clause below would name it twice
        except UnidentifiedImageError:
            raise ImageError(
                path,
                f"not an image in a format img2img reads ({', '.join(READ_FORMATS)}); "
                "a wrong extension on a text or HTML file?",
            ) from None
        except (OSError, SyntaxError, EOFError) as exc:
            raise ImageError(
                path,
                f"cannot decode image ({exc}); the file is truncated or corrupt: "
                "re-export it or remove it",
            ) from None
        except ValueError as exc:
            raise ImageError(path, str(exc)) from None


def _open(handle: BinaryIO) -> Image.Image:
    """``Image.open`` among :data:`READ_FORMATS` with PIL's decompression-bomb check off
    (it warns above its limit and refuses twice that): :func:`load_image` applies
    :data:`MAX_PIXELS` itself, so a raised limit is not silently capped by PIL's. The
    switch is process-wide, hence the lock; it covers the header parse only."""
    with _PIL_LIMIT_LOCK:
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(handle, formats=READ_FORMATS)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a PIL image of any common mode to 8-bit RGB.

    Transparent pixels are composited over white. Dropping the alpha channel instead
    would expose whatever colour the encoder left under transparent pixels (often black
    or noise), which is not what anyone sees; white is how such images (logos, line
    art, label maps) look on a page, and it is the same for every file.
    16-bit grayscale is rounded to 8 bits (65535 -> 255, 32768 -> 128); mode ``"I"``
    is read as 16-bit data and values outside [0, 65535] are clipped.
    Raises ``ValueError`` for modes without a sensible RGB reading (float images).
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_sixteen_to_eight_bit(np.asarray(image))).convert("RGB")
    if image.mode == "F":
        raise ValueError("32-bit float image: its value range is unknown; save it as 8- or 16-bit")
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode == "RGB":
        return image
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ValueError(f"cannot convert image mode {image.mode!r} to RGB ({exc})") from None


def _sixteen_to_eight_bit(values: np.ndarray) -> np.ndarray:
    """Round v * 255 / 65535 to the nearest integer, in integer arithmetic (exact)."""
    values = np.clip(values.astype(np.int64), 0, 65535)
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def pil_to_tensor(image: Image.Image) -> Tensor:
    """PIL image (any mode, via :func:`to_rgb`) -> float32 tensor of shape (3, H, W) in [-1, 1]."""
    array = np.array(to_rgb(image), dtype=np.uint8)  # a writable copy: torch shares its memory
    return _from_uint8(torch.from_numpy(array).permute(2, 0, 1).contiguous())


def pil_to_channels(image: Image.Image, channels: int) -> Tensor:
    """:func:`pil_to_tensor` with ``channels`` = 3 (RGB) or 1 (PIL's luma, ``convert("L")``,
    a (1, H, W) tensor): how grayscale models read their images."""
    if channels == 1:
        return pil_to_tensor(to_rgb(image).convert("L"))[:1]
    return pil_to_tensor(image)


def tensor_to_pil(tensor: Tensor) -> Image.Image:
    """Tensor of shape (C, H, W) or (1, C, H, W), C = 3 or 1, in [-1, 1] -> RGB or L PIL image.

    Values are rounded to the nearest of 256 levels and clamped, so out-of-range
    network outputs saturate instead of wrapping around.
    """
    tensor = _single_image(tensor)
    if tensor.shape[0] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got a tensor of shape {tuple(tensor.shape)}")
    array = _to_uint8(tensor.detach().cpu()).permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def to_tensor(image: ImageLike) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """Bring any supported image into img2img's convention, with the way back.

    Accepts a file path, a PIL image, a uint8 numpy array (H, W), (H, W, 1), (H, W, 3)
    or (H, W, 4), or a tensor (C, H, W) / (N, C, H, W) with C = 1 or 3. Float tensors
    are taken to be in [-1, 1], img2img's own convention; uint8 tensors in [0, 255].

    Returns ``(x, back)``: ``x`` is a float32 (N, 3, H, W) tensor in [-1, 1] (N = 1
    except for batched tensors), and ``back(y)`` turns a network output ``y`` of shape
    (N, C, H', W') into the caller's kind: a path or PIL image gives an RGB PIL image,
    numpy gives uint8 numpy of the input's layout (grayscale in, grayscale out; alpha is
    not restored), and a tensor gives a tensor of the input's rank, dtype and device
    (float outputs are returned unclamped). A one-channel output (a grayscale model's)
    stays grayscale: an ``L`` PIL image, an (H, W) array (or (H, W, 1) for such an input),
    a one-channel tensor.
    """
    if isinstance(image, (str, os.PathLike)):
        return pil_to_tensor(load_image(image)).unsqueeze(0), tensor_to_pil
    if isinstance(image, Image.Image):
        return pil_to_tensor(image).unsqueeze(0), tensor_to_pil
    if isinstance(image, np.ndarray):
        return _numpy_to_tensor(image)
    if isinstance(image, Tensor):
        return _tensor_to_tensor(image)
    raise TypeError(
        f"cannot use a {type(image).__name__} as an image: pass a file path, a PIL image, "
        "a uint8 numpy array (H, W, 3) or a tensor (N, 3, H, W)"
    )


def _numpy_to_tensor(array: np.ndarray) -> tuple[Tensor, Callable[[Tensor], np.ndarray]]:
    if array.dtype != np.uint8:
        raise TypeError(
            f"numpy image has dtype {array.dtype}; expected uint8 in [0, 255] "
            "(for floats in [0, 1] use (array * 255).round().astype(np.uint8))"
        )
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise ValueError(
            f"numpy image has shape {array.shape}; expected (H, W) or (H, W, C) with "
            "C = 1, 3 or 4 (for a (C, H, W) array use array.transpose(1, 2, 0))"
        )
    gray = array.ndim == 2 or array.shape[2] == 1
    pil = Image.fromarray(array.reshape(array.shape[:2]) if gray else array)

    def back(output: Tensor) -> np.ndarray:
        result = np.array(tensor_to_pil(_luma(output) if gray else output))
        return result[:, :, None] if gray and array.ndim == 3 else result

    return pil_to_tensor(pil).unsqueeze(0), back


def _tensor_to_tensor(tensor: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    if tensor.ndim not in (3, 4) or tensor.shape[-3] not in (1, 3):
        raise ValueError(
            f"tensor image has shape {tuple(tensor.shape)}; expected (C, H, W) or "
            "(N, C, H, W) with C = 1 or 3 (for (H, W, C) use tensor.permute(2, 0, 1))"
        )
    if tensor.dtype == torch.uint8:
        batch = _from_uint8(tensor)
    elif tensor.is_floating_point():
        batch = tensor.float()
    else:
        raise TypeError(
            f"tensor image has dtype {tensor.dtype}; expected a float tensor in [-1, 1] "
            "or uint8 in [0, 255]"
        )
    batched = tensor.ndim == 4
    batch = batch if batched else batch.unsqueeze(0)
    gray = batch.shape[1] == 1

    def back(output: Tensor) -> Tensor:
        output = _luma(output) if gray else output  # a one-channel output stays as it is
        if tensor.dtype == torch.uint8:
            output = _to_uint8(output)
        output = output.to(dtype=tensor.dtype, device=tensor.device)
        return output if batched else _single_image(output)

    return (batch.repeat(1, 3, 1, 1) if gray else batch), back


def quantize(image: Tensor) -> Tensor:
    """Round [-1, 1] values to the 256 levels of an 8-bit image (what a saved image holds),
    clamping first; the result stays a float tensor in [-1, 1]."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def _single_image(tensor: Tensor) -> Tensor:
    """(C, H, W) or (1, C, H, W) -> (C, H, W); anything else is an error."""
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        return tensor[0]
    if tensor.ndim == 3:
        return tensor
    raise ValueError(
        f"expected one image, shape (C, H, W) or (1, C, H, W); got {tuple(tensor.shape)}"
    )


def _luma(batch: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W); linear with weights summing to 1, so it keeps [-1, 1].
    A one-channel batch is grey already and comes back as it is."""
    if batch.shape[1] == 1:
        return batch
    weights = batch.new_tensor(_LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (batch * weights).sum(dim=1, keepdim=True)


def _from_uint8(tensor: Tensor) -> Tensor:
    return tensor.float() / 127.5 - 1.0


def _to_uint8(tensor: Tensor) -> Tensor:
    return ((tensor.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
