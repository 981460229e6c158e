"""Inception-v3 pool3 features for FID and KID: the preprocessing, extraction, the cache.

The network is the TF Inception-v3 that every FID implementation uses, loaded from a local
file by :mod:`img2img.backbones.inception` (``inception=PATH``, ``--inception PATH`` or
``$IMG2IMG_INCEPTION`` choose another file).

Preprocessing, chosen to match the TF graph and clean-fid (Parmar et al., 2022):

- pixel values in [0, 255] (floats; no quantisation after resizing);
- resize to 299x299 with antialiased bicubic interpolation (torch's ``antialias=True``,
  the same filter as PIL's ``BICUBIC`` resize that clean-fid uses). Clean-fid showed that
  the aliasing bilinear resize of the older PyTorch ports changes FID by whole points;
  images already at 299x299 are not resampled;
- scale as the TF graph does, (x - 128) / 128, i.e. [-1, 0.992].

The network runs on the engine ``engine`` names (:mod:`img2img.engines`, in fp32): ONNX
Runtime on CPUs by default, about 2.5x PyTorch's images/s; its features equal PyTorch's to
float rounding (~1e-5), FID to far better than 0.1%. NVIDIA's file (see below) runs in
PyTorch.

Features of a real image *folder* are cached on disk (``~/.cache/img2img/features``,
or ``$IMG2IMG_CACHE``), keyed by the network file, the preprocessing, and every file's
path, size and modification time: evaluating again against the same folder reads them
back instead of running the network, and changing any file recomputes them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.backbones.inception import default_inception_path, load_inception, takes_pixels
from img2img.devices import resolve_device
from img2img.engines import compile_network, resolve_engine

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
# Bump when the preprocessing changes, so that cached features are recomputed.
PREPROCESSING = "antialiased-bicubic-299/tf-scale/v1"

Images = str | os.PathLike | Sequence[str | os.PathLike] | Tensor


def to_pixels(images: Tensor) -> Tensor:
    """(N, 3, H, W) float in [-1, 1] or uint8 -> float32 (N, 3, 299, 299) in [0, 255], resized
    by antialiased bicubic (not resampled when already 299x299; no quantisation)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images; got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float()
    elif images.is_floating_point():
        x = (images.float().clamp(-1, 1) + 1) * 127.5
    else:
        raise TypeError(f"images of dtype {images.dtype}: use float in [-1, 1] or uint8")
    if x.shape[-2:] == (INCEPTION_SIZE, INCEPTION_SIZE):
        return x
    x = F.interpolate(
        x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bicubic", align_corners=False,
        antialias=True,
    )  # fmt: skip
    return x.clamp(0, 255)  # bicubic overshoots at edges


def preprocess(images: Tensor) -> Tensor:
    """(N, 3, H, W) float in [-1, 1] or uint8 -> the network's input, (N, 3, 299, 299) float32
    (x - 128) / 128 with x the :func:`to_pixels` values, as the TF graph scales its input."""
    return (to_pixels(images) - 128) / 128


@functools.lru_cache(maxsize=2)
def compiled_inception(path: str, device: str, engine: str, stamp: tuple[int, int]) -> Callable:
    """The Inception network of ``path`` on ``engine``, kept for the next extractor (the
    weights' hash and the session take seconds); ``stamp`` (size, mtime) renews it when the
    file changes."""
    network = load_inception(path, device)
    example = [torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE)]
    return compile_network(network, example, engine, device, "fp32", dynamic={0: "batch"})


class InceptionFeatures:
    """Callable: (N, 3, H, W) images (float [-1, 1] or uint8) -> float32 numpy (N, 2048).
    ``engine``: "auto", "torch" or "onnxruntime" (see :mod:`img2img.engines`)."""

    def __init__(
        self, inception: str | os.PathLike | None = None, device: str = "auto", engine: str = "auto"
    ) -> None:
        self.device = resolve_device(device)
        self.path = Path(inception) if inception else default_inception_path()
        self.network = load_inception(str(self.path), str(self.device))
        self.pixels = takes_pixels(self.network)
        if self.pixels and engine == "onnxruntime":
            raise ValueError(f"{self.path}: NVIDIA's Inception export runs with engine='torch'")
        self.engine = "torch" if self.pixels else resolve_engine(engine, self.device, "fp32")
        stat = self.path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        self.run = compiled_inception(str(self.path), str(self.device), self.engine, stamp)

    @property
    def identity(self) -> str:
        """Names the network for the cache key: file name and size."""
        return f"{self.path.name}:{self.path.stat().st_size}"

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> np.ndarray:
        images = images.to(self.device)
        if self.pixels:  # NVIDIA's export: [0, 255] at 299 (so its own resize does nothing)
            features = self.network(to_pixels(images), return_features=True)
        else:
            features = self.run(preprocess(images))
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(
                f"{self.path}: the network returned shape {tuple(features.shape)}, expected "
                f"(N, {FEATURE_DIM}) pool3 features"
            )
        return features.float().cpu().numpy()

    def extract(
        self,
        batches: Iterable[Tensor],
        total: int | None = None,
        progress: bool = True,
        desc: str = "Inception features",
    ) -> np.ndarray:
        """Features of every image in ``batches`` (an iterable of (B, 3, H, W) tensors), with
        a progress bar counting images. Returns float32 (N, 2048)."""
        from tqdm import tqdm

        chunks = []
        with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
            for batch in batches:
                chunks.append(self(batch))
                bar.update(len(batch))
        if not chunks:
            raise ValueError("no images to compute Inception features of")
        return np.concatenate(chunks)


def resized_batches(images: Iterable[Tensor], batch_size: int) -> Iterator[Tensor]:
    """Group single images (3, H, W) of any sizes into float batches (B, 3, 299, 299) in
    [-1, 1], each image resized on its own by :func:`to_pixels`."""
    batch: list[Tensor] = []
    for image in images:
        batch.append(to_pixels(image[None])[0] / 127.5 - 1)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def cache_dir() -> Path:
    """Where features are cached: ``$IMG2IMG_CACHE/features`` or ``~/.cache/img2img/features``."""
    root = (
        os.environ.get("IMG2IMG_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "img2img"
    )
    return Path(root) / "features"


def cache_key(files: Sequence[Path], network: str, variant: str = "") -> str:
    """A digest of the file list with sizes and mtimes, the network and how images are read."""
    entries = []
    for file in files:
        stat = Path(file).stat()
        entries.append([str(Path(file).resolve()), stat.st_size, stat.st_mtime_ns])
    payload = {"files": entries, "network": network, "pre": PREPROCESSING, "variant": variant}
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]


def cache_path(files: Sequence[Path], extractor: InceptionFeatures, variant: str = "") -> Path:
    """The cache file for the features of ``files`` read as ``variant`` by ``extractor``."""
    return cache_dir() / f"{cache_key(files, extractor.identity, variant)}.npy"


def load_cached(path: Path, count: int) -> np.ndarray | None:
    """Features stored at ``path`` if they are there, readable and (count, 2048), else None."""
    try:
        features = np.load(path)
    except (OSError, ValueError):
        return None  # absent or damaged: recomputed
    return features if features.shape == (count, FEATURE_DIM) else None


def save_cached(path: Path, features: np.ndarray) -> None:
    """Store features atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(temporary, features)
    os.replace(temporary, path)


def cached_features(
    files: Sequence[Path], extractor: InceptionFeatures, compute: Callable[[], np.ndarray],
    variant: str = "", use_cache: bool = True, count: int | None = None,
) -> np.ndarray:  # fmt: skip
    """``compute()``'s features of ``files``, read from the cache when the same files (same
    sizes and mtimes) were seen with the same network and ``variant`` (a string naming how
    the images are derived from the files, e.g. "right half at 256"), else computed and
    stored. ``count``: how many images the files hold (default one per file; an MNIST IDX
    file holds thousands)."""
    if not use_cache:
        return compute()
    path = cache_path(files, extractor, variant)
    features = load_cached(path, len(files) if count is None else count)
    if features is None:
        features = compute()
        save_cached(path, features)
    return features


def image_features(
    images: Images,
    *,
    batch_size: int = 32,
    device: str = "auto",
    inception: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    engine: str = "auto",
) -> np.ndarray:
    """Inception pool3 features of ``images``: float32 (N, 2048).

    ``images``: a folder (every image in it and its subfolders; features cached, see the
    module docstring), a list of image files, or a tensor (N, 3, H, W), float in [-1, 1]
    or uint8. Files are read with :func:`img2img.images.load_image` (RGB, alpha over white).
    """
    extractor = InceptionFeatures(inception, device, engine)
    if isinstance(images, Tensor):
        batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
        return extractor.extract(batches, total=len(images), progress=progress)
    from img2img.data import find_images
    from img2img.images import load_image, pil_to_tensor

    is_folder = isinstance(images, (str, os.PathLike)) and Path(images).is_dir()
    if isinstance(images, (str, os.PathLike)) and not is_folder:
        raise FileNotFoundError(f"{images}: not a folder of images")
    files = find_images(images) if is_folder else [Path(file) for file in images]

    def compute() -> np.ndarray:
        decoded = (pil_to_tensor(load_image(file)) for file in files)
        batches = resized_batches(decoded, batch_size)
        desc = f"Inception features of {Path(images).name}" if is_folder else None
        return extractor.extract(batches, len(files), progress, desc or "Inception features")

    return cached_features(files, extractor, compute, "files", use_cache and is_folder)
