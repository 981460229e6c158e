"""Super-resolution data: HR images, with LR inputs made from them on the fly.

Training takes a random HR crop and makes its LR input by bicubic downscaling, so any folder
of photographs is SR training data and every epoch sees new crops. The downscaling kernel
matters (a model learns to invert exactly the kernel it was trained on):

- training: torch's antialiased bicubic (``F.interpolate(..., mode="bicubic",
  antialias=True)``, Keys a = -0.5 widened by the scale factor), rounded to 8 bits as a real LR
  image would be. This is the filter of PIL's ``BICUBIC`` resize (and of MATLAB's
  ``imresize``, up to PIL's rounding), which evaluation uses (:mod:`img2img.metrics.sr`);
  a test checks that the two agree to within one 8-bit level.
- optional degradations for real-world SR, off by default: Gaussian blur of the HR crop
  before downscaling (``blur_sigma`` in HR pixels), Gaussian noise on the LR image
  (``noise``, standard deviation in 8-bit levels), and JPEG compression of the LR image
  (``jpeg_quality``, 1-95; 0 off); or, with ``degradation="second-order"``, Real-ESRGAN's
  random two-round chain instead (:mod:`img2img.data.degradations`).

Given LR images instead (``lr_roots``, ``--lr-data``: DIV2K's ``X4/0001x4.png`` beside
``HR/0001.png``), pairs are matched by name and the LR crop is the HR crop's window divided
by the scale, so the network learns whatever degradation made those LR images. An LR
image must be the HR image's size divided by the scale (rounded down, as MATLAB's and
BasicSR's LR sets are).

Bad input: an image smaller than the HR crop is skipped with a warning naming it (padding
would teach the network to invent borders), counted in ``skipped`` like the other datasets'
unreadable files; grayscale files are read as RGB (:func:`img2img.images.load_image`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from img2img.data.degradations import gaussian_blur, jpeg, second_order
from img2img.data.folders import find_images, match_by_name, read_first_usable
from img2img.data.sampler import Key, epoch_and_index
from img2img.data.transforms import CropFlip, apply_crop_flip, make_generator, sample_crop_flip
from img2img.images import ImageError, load_image, pil_to_tensor, quantize

# How LR inputs are made from HR crops (see the module docstring).
DEGRADATIONS = ("bicubic", "second-order")


def split_folders(data: str) -> list[str]:
    """``"T91,BSD200"`` -> ``["T91", "BSD200"]``: several HR folders in one ``--data`` value."""
    folders = [part.strip() for part in data.split(",") if part.strip()]
    if not folders:
        raise ValueError("--data is empty: give one HR image folder, or several joined by commas")
    return folders


def bicubic_downscale(hr: Tensor, scale: int) -> Tensor:
    """(..., 3, H, W) in [-1, 1] -> (..., 3, H / scale, W / scale) by antialiased bicubic,
    rounded to 8 bits. H and W must be multiples of ``scale``."""
    batch = hr if hr.ndim == 4 else hr[None]
    lr = F.interpolate(batch, scale_factor=1 / scale, mode="bicubic", antialias=True)
    lr = quantize(lr)
    return lr if hr.ndim == 4 else lr[0]


class SRImageFolder(Dataset):
    """HR images from one or more folders; items ``{"input": LR (3, S/scale, S/scale),
    "target": HR (3, S, S), "path": str, "skipped": int}`` with S = ``crop_size``.

    ``train=True``: a random ``crop_size`` crop (and horizontal flip when ``flip``), drawn
    from a generator seeded by (seed, epoch, index) like every img2img dataset, so resumed
    runs see the same crops; degradations draw from the same generator. ``train=False``:
    the centre crop, no flip, no randomness (the progress grids' fixed images).
    """

    def __init__(
        self,
        roots: Sequence[str | os.PathLike],
        crop_size: int = 96,
        scale: int = 4,
        train: bool = True,
        flip: bool = True,
        blur_sigma: float = 0.0,
        noise: float = 0.0,
        jpeg_quality: int = 0,
        seed: int = 0,
        lr_roots: Sequence[str | os.PathLike] = (),
        degradation: str = "bicubic",
    ) -> None:
        if degradation not in DEGRADATIONS:
            raise ValueError(f"degradation={degradation!r}: choose {' or '.join(DEGRADATIONS)}")
        if crop_size % scale:
            raise ValueError(
                f"image_size={crop_size} (the HR crop) is not a multiple of scale={scale}; "
                f"use e.g. {crop_size - crop_size % scale}"
            )
        if not 0 <= jpeg_quality <= 95:
            raise ValueError(f"jpeg_quality={jpeg_quality}: use 1-95, or 0 for no JPEG")
        if blur_sigma < 0 or noise < 0:
            raise ValueError(f"blur_sigma={blur_sigma}, noise={noise}: use values >= 0")
        self.degradation = degradation
        if lr_roots and (blur_sigma or noise or jpeg_quality or degradation != "bicubic"):
            raise ValueError(
                "degradation, blur_sigma, noise and jpeg_quality make LR inputs from HR; with "
                "lr_data the LR inputs are given: use one or the other"
            )
        if lr_roots and len(lr_roots) != len(roots):
            raise ValueError(
                f"{len(roots)} HR folder(s) but {len(lr_roots)} LR folder(s): give one LR "
                "folder for each HR folder, in the same order"
            )
        self.roots = [Path(root) for root in roots]
        # HR file -> its LR file, when LR images are given.
        self.partners = {
            hr: lr
            for hr_root, lr_root in zip(self.roots, lr_roots, strict=False)
            for hr, lr in match_by_name(hr_root, Path(lr_root), second_suffix=f"x{scale}")
        }
        self.files = list(self.partners) or [
            file for root in self.roots for file in find_images(root)
        ]
        self.crop_size, self.scale = crop_size, scale
        self.train, self.flip = train, flip
        self.blur_sigma, self.noise, self.jpeg_quality = blur_sigma, noise, jpeg_quality
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: Key) -> dict[str, Tensor | str | int]:
        epoch, index = epoch_and_index(key, self.epoch)
        folders = ", ".join(str(root) for root in self.roots)
        image, path, skipped = read_first_usable(
            self.files,
            index,
            self._read,
            f"{folders}: none of the {len(self.files)} images is usable as an HR crop of "
            f"{self.crop_size} px (each was warned about above)",
        )
        generator = make_generator(self.seed, epoch, index)
        if self.partners:
            hr, lr = self._crop_pair(*image, generator)
        else:
            hr = pil_to_tensor(self._crop(image, generator))
            lr = self._degrade(hr, generator)
        return {
            "input": lr,
            "target": hr,
            "path": str(path),
            "skipped": int(skipped > 0),  # this item's own file: each bad file counts once
        }

    def _read(self, path: Path) -> Image.Image | tuple[Image.Image, Image.Image]:
        image = load_image(path)
        self._check_size(image, path)
        if not self.partners:
            return image
        lr_path = self.partners[path]
        lr = load_image(lr_path)
        expected = (image.width // self.scale, image.height // self.scale)
        if lr.size != expected:
            raise ImageError(
                lr_path,
                f"{lr.width}x{lr.height} is not the size of its HR image {path.name} divided "
                f"by scale={self.scale} ({expected[0]}x{expected[1]})",
            )
        return image, lr

    def _crop_pair(
        self, hr: Image.Image, lr: Image.Image, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """The same window of an HR image and its LR image: placed on the LR pixel grid,
        then scaled up for the HR one (training: random, with the flip; else the centre)."""
        size = self.crop_size // self.scale
        if self.train:
            params = sample_crop_flip((lr.height, lr.width), (size, size), self.flip, generator)
        else:
            top, left = (lr.height - size) // 2, (lr.width - size) // 2
            params = CropFlip(top, left, size, size, False)
        s = self.scale
        hr_params = CropFlip(params.top * s, params.left * s, size * s, size * s, params.flip)
        return (
            pil_to_tensor(apply_crop_flip(hr, hr_params)),
            pil_to_tensor(apply_crop_flip(lr, params)),
        )

    def _check_size(self, image: Image.Image, path: Path) -> None:
        if min(image.size) < self.crop_size:
            raise ImageError(
                path,
                f"{image.width}x{image.height} is smaller than the HR crop of {self.crop_size} px",
            )

    def _crop(self, image: Image.Image, generator: torch.Generator) -> Image.Image:
        size, crop = (image.height, image.width), (self.crop_size, self.crop_size)
        if self.train:
            return apply_crop_flip(image, sample_crop_flip(size, crop, self.flip, generator))
        top, left = (image.height - self.crop_size) // 2, (image.width - self.crop_size) // 2
        return image.crop((left, top, left + self.crop_size, top + self.crop_size))

    def _degrade(self, hr: Tensor, generator: torch.Generator) -> Tensor:
        """HR crop -> LR input: [blur] -> bicubic downscale -> [noise] -> [JPEG], or the
        second-order chain (:func:`~img2img.data.degradations.second_order`)."""
        if self.degradation == "second-order":
            return second_order(hr, self.scale, generator)
        x = gaussian_blur(hr, self.blur_sigma) if self.blur_sigma else hr
        lr = bicubic_downscale(x, self.scale)
        if self.noise:
            noise = torch.randn(lr.shape, generator=generator) * (self.noise / 127.5)
            lr = quantize(lr + noise)
        return jpeg(lr, self.jpeg_quality) if self.jpeg_quality else lr
