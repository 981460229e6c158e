"""Inference: load a trained generator once and translate images of any size.

Any size works because the generators are fully convolutional: an input is padded (by
reflection, or by edge replication where the padding exceeds the image) up to the
network's ``size_multiple`` — 2**depth for a U-Net (256 for UNet-256), 4 for a ResNet
generator — translated, and cropped back to its own size (times the network's ``scale`` for
super-resolution). Nothing is resized, so no detail is lost or invented by interpolation; the
padding only affects the border pixels' context.

Inpainting models (``--task inpaint``) take a mask with the image (white = hole; by default
their training mask) and are not fully convolutional: the image, its hole filled first, is
resized to the network's size, the prediction resized back, and only the hole's pixels
taken from it, so every pixel outside the hole is the input's, bit for bit, at any size.

Memory stays bounded on large images: an image with a side over ``tile`` pixels (default
:data:`DEFAULT_TILE`) is translated in overlapping tiles blended at the seams (see
:mod:`img2img.tiling`); ``tile=0`` runs the whole image at once.

The network runs on the engine ``engine`` names (:mod:`img2img.engines`): by default ONNX
Runtime on CPUs without native bf16, the faster of PyTorch bf16 and ONNX Runtime (measured
once per model and machine) on CPUs with it, PyTorch on GPUs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from img2img.config import config_from_saved
from img2img.data.masks import read_mask
from img2img.devices import resolve_device
from img2img.engines import OnnxRuntimeNetwork, TorchNetwork, compile_network
from img2img.images import quantize, tensor_to_pil, to_tensor
from img2img.nets.batchnorm import inference_copy
from img2img.nets.capabilities import (
    FillsHoles,
    HasCodes,
    HasMinimumSize,
    ImageToImage,
    PreparesInput,
    require,
)
from img2img.precision import autocast, autocast_dtype
from img2img.saved_models import (
    DEFAULT_MODEL,
    config_file,
    read_model,
    resolve_model,
    weights_path,
)
from img2img.tasks import get_task
from img2img.tiling import run_tiled

DEFAULT_TILE = 512
"""Input pixels per tile side: the activations of a 512 x 512 tile fit a laptop (about 1 GB
for SRResNet, less for the others), and images up to 512 px, like every training set here,
are translated whole."""
DEFAULT_TILE_OVERLAP = 64
"""Exact for receptive-field radii up to 16 px (see :mod:`img2img.tiling`), 14% extra work."""


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad N x C x H x W at the bottom and right up to multiples of ``multiple``.

    Returns the padded tensor and the original (H, W), to crop the output back."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def load_generator(
    model: str | Path, use_ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Any]:
    """Rebuild a saved model's generator: (network in eval mode on ``device``, its task's
    config). ``model`` is anything :func:`img2img.saved_models.resolve_model` accepts (run
    directory, ``X.safetensors`` + ``X.json``, shipped name, Hub name); the EMA weights are
    used when a directory has them and ``use_ema`` is true. The one way every caller (``translate``,
    ``sample``, ``eval``, the demo) turns files back into a network, so each form of saved
    model works everywhere."""
    path = resolve_model(model)
    values, weights = read_model(path, use_ema=use_ema)
    task = get_task(values.get("task", ""))
    config = config_from_saved(task.Config, values, source=config_file(path))
    generator = task.build_generator(config)
    generator.load_state_dict(weights)
    return generator.to(device).eval(), config


class Translator:
    """A loaded generator that translates images; keep one to run many images.

    Call it with a path, PIL image, numpy HWC uint8 array or tensor (CHW/NCHW in [-1, 1]);
    it returns the same kind (a path input gives a PIL image). ``tile``/``tile_overlap``:
    see the module docstring; ``engine``: "auto", "torch" or "onnxruntime" (see
    :mod:`img2img.engines`; :attr:`engine` holds the one chosen).
    """

    def __init__(
        self,
        generator: nn.Module,
        config: Any,
        device: torch.device,
        precision: str = "auto",
        tile: int = DEFAULT_TILE,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        engine: str = "auto",
    ) -> None:
        per_image = get_task(config.task).per_image_statistics(config)
        self.generator = inference_copy(generator, per_image).to(device)
        self.config = config
        self.device = device
        self.dtype = autocast_dtype(precision, device)  # PyTorch's, where it runs a network
        # An inpainting network fills the hole itself (see nets.context_encoder) at one
        # fixed size with two inputs (image, hole): PyTorch runs it.
        self.inpaints = isinstance(generator, FillsHoles)
        if self.inpaints:
            self.network = TorchNetwork(self.generator, device, self.dtype)
            self.prepare, self.multiple, self.scale, self.in_channels = None, 1, 1, 3
        else:
            self.network = self._compile(engine, precision)
        self.engine = "onnxruntime" if isinstance(self.network, OnnxRuntimeNetwork) else "torch"
        # A tile is at least one network multiple, or padding would dominate it.
        self.tile = max(tile, self.multiple) if tile > 0 else 0
        self.tile_overlap = min(tile_overlap, self.tile // 2)

    def _compile(self, engine: str, precision: str) -> Any:
        """The image-to-image network on ``engine``; its declared capabilities (checked
        here, so a network missing one fails at load) say how inputs are prepared."""
        require(self.generator, ImageToImage, "translate images")
        self.multiple, self.scale = self.generator.size_multiple, self.generator.scale
        self.in_channels = channels = self.generator.in_channels
        # A generator with an input stage (a label map's check and one-hot encoding) runs
        # that stage in PyTorch and gives only its network to the engine.
        self.prepare, network = None, self.generator
        if isinstance(self.generator, PreparesInput):
            self.prepare, network, channels = self.generator.input_stage()
        multiple = self.multiple
        example = [torch.zeros(1, channels, max(multiple, 64), max(multiple, 64))]
        probe = [torch.zeros(1, channels, max(multiple, 256), max(multiple, 256))]
        return compile_network(network, example, engine, self.device, precision, probe=probe)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        device: str = "auto",
        precision: str = "auto",
        use_ema: bool = True,
        direction: str | None = None,
        tile: int = DEFAULT_TILE,
        engine: str = "auto",
    ) -> Translator:
        """Load a model directory or shipped name. The EMA weights are used when the model
        has them, unless ``use_ema=False``; ``precision`` as in :mod:`img2img.precision`;
        ``direction`` picks the network of a two-way model (see :func:`select_direction`);
        ``tile``: tile side in input pixels for large images (0: never tile); ``engine``
        as in :mod:`img2img.engines`."""
        generator, config = load_generator(model, use_ema)
        generator = select_direction(generator, config, direction)
        device = resolve_device(device)
        return cls(generator, config, device, precision, tile, DEFAULT_TILE_OVERLAP, engine)

    @torch.inference_mode()
    def translate_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W in [-1, 1] -> N x C x sH x sW in [-1, 1] (s: the network's scale, 1
        but for super-resolution; C: its output channels, 1 for a grayscale model trained
        with ``--channels 1``, which reads the luma of what it is given). Each image's result
        is independent of the others in the batch (see :mod:`img2img.nets.batchnorm`)."""
        if self.inpaints:
            raise ValueError("an inpainting model needs the hole: use inpaint_tensor(x, mask)")
        if self.tile == 0:
            return self._run(x)
        return run_tiled(self._run, x, self.tile, self.tile_overlap, self.scale)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1 and x.shape[1] == 3:
            x = luma(x)  # a grayscale model (--channels 1) reads what training read
        padded, (height, width) = pad_to_multiple(x.float(), self.multiple)
        self._check_size(padded, height, width)
        if self.prepare is not None:
            with torch.inference_mode():
                padded = self.prepare(padded.to(self.device)).cpu()
        return self.network(padded)[..., : height * self.scale, : width * self.scale]

    def _check_size(self, padded: torch.Tensor, height: int, width: int) -> None:
        """Refuse an image the network cannot run on even padded (HasMinimumSize), before
        any engine sees it: the same clear error on PyTorch and ONNX Runtime."""
        if not isinstance(self.generator, HasMinimumSize):
            return
        if min(padded.shape[-2:]) < self.generator.min_size:
            raise ValueError(
                f"a {width}x{height} image is too small for this {self.config.task} model: "
                f"its generator downsamples by {self.multiple} and needs at least "
                f"{self.generator.min_size} px on each side"
            )

    @torch.inference_mode()
    def inpaint_tensor(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W in [-1, 1] with its hole mask (N or 1) x 1 x H x W (1 = hole) ->
        the completed images: ``x`` outside the hole, the network's fill inside it."""
        side = self.generator.image_size
        if (
            mask.dim() != 4
            or mask.shape[1] != 1
            or mask.shape[-2:] != x.shape[-2:]
            or (len(mask) not in (1, len(x)))
        ):
            raise ValueError(
                f"a mask of shape {tuple(mask.shape)} does not fit images of shape "
                f"{tuple(x.shape)}: give (N or 1) x 1 x {x.shape[-2]} x {x.shape[-1]} "
                "(read_mask resizes a mask of another size)"
            )
        mask = mask.to(x.dtype).expand(len(x), 1, *x.shape[-2:])
        filled = self.generator.fill_hole(x, mask)  # nothing under the hole reaches the net
        small, small_mask = filled, mask
        if x.shape[-2:] != (side, side):
            small = F.interpolate(filled, (side, side), mode="bicubic", antialias=True)
            # A low-resolution pixel is hole if any pixel it covers is.
            small_mask = (F.interpolate(mask, (side, side), mode="area") > 0).to(x.dtype)
        prediction = self.network(small, small_mask)
        if x.shape[-2:] != (side, side):
            prediction = F.interpolate(prediction, x.shape[-2:], mode="bicubic").clamp(-1, 1)
        return torch.where(mask.bool(), prediction, x)

    def __call__(self, image: Any, mask: Any = None) -> Any:
        """Translate ``image``; an inpainting model fills the hole of ``mask`` (a path, PIL
        image, numpy array or tensor, white = hole, resized with nearest neighbour to the
        image; default: the model's training mask), other models take no mask."""
        x, restore = to_tensor(image)
        return restore(self.translate_batch(x, mask))

    def translate_batch(self, x: torch.Tensor, mask: Any = None) -> torch.Tensor:
        """:meth:`translate_tensor` for a batch of equal-size images, or, for an inpainting
        model, :meth:`inpaint_tensor` with ``mask`` read at their size (any kind
        :func:`~img2img.data.masks.read_mask` takes; default: the model's training mask)."""
        if self.inpaints:
            size = tuple(x.shape[-2:])
            task = get_task(self.config.task)
            hole = task.default_mask(self.config, size) if mask is None else read_mask(mask, size)
            return self.inpaint_tensor(x, hole)
        if mask is not None:
            raise ValueError(
                f"mask given, but a {self.config.task} model takes none; only inpainting "
                "models (--task inpaint) fill a masked hole"
            )
        return self.translate_tensor(x)

    @torch.inference_mode()
    def encode(self, image: Any) -> torch.Tensor:
        """The codes of an autoencoder model (VQGAN): an int64 code map ``(h, w)`` for one
        image (path, PIL, numpy, CHW tensor) or ``(N, h, w)`` for an NCHW batch; a KL or
        plain autoencoder gives its float latent, ``(C, h, w)`` or ``(N, C, h, w)``. The
        image is padded to a multiple of the downsampling factor f, so the map covers
        ``ceil(H / f) x ceil(W / f)``; :meth:`decode` turns codes back into an image."""
        network = self._autoencoder("encode")
        x, _ = to_tensor(image)
        padded, _ = pad_to_multiple(x.to(self.device), self.multiple)
        with autocast(self.device, self.dtype):
            codes = network.encode(padded)
        codes = codes.cpu() if not codes.is_floating_point() else codes.float().cpu()
        batched = isinstance(image, torch.Tensor) and image.dim() == 4
        return codes if batched else codes[0]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> Any:
        """The image of :meth:`encode`'s codes: a PIL image for one image's codes, a float
        ``(N, 3, H, W)`` tensor in [-1, 1] for a batch (H, W: the code map's size times f)."""
        network = self._autoencoder("decode")
        single = codes.dim() == (3 if codes.is_floating_point() else 2)
        batch = (codes[None] if single else codes).to(self.device)
        with autocast(self.device, self.dtype):
            images = network.decode(batch).float().clamp(-1, 1).cpu()
        return tensor_to_pil(images[0]) if single else images

    def _autoencoder(self, method: str) -> nn.Module:
        if not isinstance(self.generator, HasCodes):
            raise TypeError(
                f"{method}: a {self.config.task} model has no codes; encode and decode are "
                "for autoencoder models (--task vqgan)"
            )
        return self.generator


def luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, 1, H, W): PIL's ``convert("L")`` (ITU-R 601-2 luma,
    rounded to 8 bits), the grey a ``--channels 1`` model was trained on."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    grey = (x * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
    return quantize(grey)


def select_direction(generator: nn.Module, config: Any, direction: str | None) -> nn.Module:
    """The network of ``generator`` that translates ``direction``.

    A two-way model's generator is an ``nn.ModuleDict`` from direction names ("AtoB",
    "BtoA" for CycleGAN) to networks; ``direction=None`` picks its first. Any other
    generator translates one way only and takes ``direction=None``.
    """
    if isinstance(generator, nn.ModuleDict):
        names = list(generator)
        direction = names[0] if direction is None else direction
        if direction not in generator:
            raise ValueError(
                f"direction={direction!r}: this {config.task} model translates {' or '.join(names)}"
            )
        return generator[direction]
    if direction is not None:
        raise ValueError(
            f"direction={direction!r}: a {config.task} model translates one way only (the "
            "way it was trained); leave the direction out"
        )
    return generator


def load(
    model: str | Path = DEFAULT_MODEL,
    device: str = "auto",
    precision: str = "auto",
    use_ema: bool = True,
    direction: str | None = None,
    tile: int = DEFAULT_TILE,
    engine: str = "auto",
) -> Translator:
    """Load a model (run directory or shipped name; default ``"facades-label2photo"``) for
    repeated use; see :meth:`Translator.from_pretrained`. ``direction`` ("AtoB" or "BtoA")
    picks the network of a two-way model such as CycleGAN's; ``tile`` the tile side for
    large images; ``engine`` ("auto", "torch", "onnxruntime") what runs it (see
    :mod:`img2img.engines`)."""
    return Translator.from_pretrained(model, device, precision, use_ema, direction, tile, engine)


@functools.lru_cache(maxsize=4)
def _cached(
    model: str, device: str, mtime: float, direction: str | None, engine: str
) -> Translator:
    return load(model, device, direction=direction, engine=engine)


def translate(
    image: Any,
    model: str | Path = DEFAULT_MODEL,
    device: str = "auto",
    direction: str | None = None,
    mask: Any = None,
    engine: str = "auto",
) -> Any:
    """Translate one image with ``model`` (a run directory or a shipped model name; by
    default ``"facades-label2photo"``, the shipped pix2pix model from facade label maps to
    photos).

    ``image``: a path, PIL image, numpy HWC uint8 array or tensor; the result is the same
    kind (PIL for a path). Any size is accepted: the image is padded to the network's
    multiple and the output cropped back (see the module docstring). The loaded model is
    cached, so calling this in a loop does not reload it (unless its weights change).
    ``direction`` ("AtoB" or "BtoA", default the first) is for two-way models such as
    CycleGAN's; one-way models (pix2pix) take none. ``mask`` (white = hole; a path, PIL
    image, numpy array or tensor) is for inpainting models, whose default is the mask they
    trained with; pixels outside the hole come back unchanged.
    """
    path = resolve_model(model)
    mtime = weights_path(path).stat().st_mtime
    return _cached(str(path), device, mtime, direction, engine)(image, mask)
