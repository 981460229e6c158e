"""The demo's backend: what its buttons do, as plain functions of file paths and numbers.

:class:`DemoBackend` holds the models and runs them; the tabs (:mod:`img2img.demo.tabs`)
lay out widgets over its methods, so tests call them without a browser. Every input is
checked here (model names, directions, classes, seeds, counts, uploads), and a visitor's
mistake is a ``gr.Error`` worded for a visitor (:func:`refuse`).
"""

from __future__ import annotations

import logging
import math
import reprlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from PIL import Image

from img2img.catalog import ModelInfo
from img2img.images import ImageError, ImageTooLarge, load_image
from img2img.metrics.autoencoder import code_bits
from img2img.nets.labels import UnknownLabel
from img2img.saved_models import read_config, shipped_folder
from img2img.tasks import TASKS

# The largest input (output, for super-resolution) the demo computes, in pixels: 1 Mpx runs
# in seconds on a CPU. Larger images are downscaled to it, keeping their aspect ratio.
DEFAULT_MAX_PIXELS = 1024 * 1024
# An upload may decode to at most this many times the demo's pixel limit (4096 x 4096 for
# the default), so a request's memory is bounded by the demo's limit, not by the library's
# MAX_PIXELS (89 Mpx: gigabytes once decoded). JPEGs over it decode at a reduced scale
# (``load_image(reduce_to=...)``); other files over it are refused from their header.
DECODE_FACTOR = 16
# The concurrency group of every event that runs a model, so that ``concurrency`` bounds
# them all together (Gradio's default is a limit per event, one per button and endpoint).
COMPUTE = "model"
# Gradio refuses larger uploads before the demo sees them: a file within the decode budget
# (16 Mpx for the default limit) is smaller in any real photo or drawing.
MAX_UPLOAD_BYTES = 25 * 2**20
# Gradio's cache (uploads, and the results it serves): every 10 minutes, files older than
# an hour are deleted; a visitor's result stays downloadable for that hour.
CACHE_CLEANUP = (600, 3600)
# The smallest side accepted: a generator's output for fewer pixels is too small to see.
MIN_SIDE = 16


class Range(NamedTuple):
    """Whole numbers a sampling setting accepts, and its default (slider and API)."""

    low: int
    high: int
    default: int


# What the sampling tab accepts and the seeds it takes: the sampler's generators need
# non-negative keys, and 2**32 seeds are plenty for a demo.
SAMPLES, ROWS, STEPS = Range(1, 64, 16), Range(0, 4, 2), Range(2, 12, 8)
MAX_SEED = 2**32 - 1
# GAN samples are small (often 32 px): the page shows them upscaled by a whole factor with
# nearest-neighbour, so each generated pixel is a visible block, to at least this width.
DISPLAY_WIDTH = 512
EXAMPLES_DIR = shipped_folder("examples")
TRANSLATE_EXAMPLE = EXAMPLES_DIR / "facade_label.png"
SR_EXAMPLE = EXAMPLES_DIR / "sr_lr.png"
INPAINT_EXAMPLE = EXAMPLES_DIR / "facade_photo.png"

# The built-in tabs (:mod:`img2img.demo.tabs`), as recipes name them in register_task.
TRANSLATE, SUPER_RESOLVE, SAMPLE, INPAINT = "translate", "super-resolve", "sample", "inpaint"
AUTOENCODE = "autoencode"
ALL_CLASSES = "all (one class per column)"
# The GAN tab's second figure, per generator kind (img2img.sampling.extra_figure).
EXTRAS = {"style-mix": "Mix styles", "chain": "Show the denoising steps"}

Loader = Callable[[ModelInfo, "str | None", str, str], Any]
log = logging.getLogger(__name__)
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 200  # room for a model's path, not for megabytes


def truncation_psi(value: Any) -> float:
    """The truncation psi a visitor gave, checked: a number from 0 to 1."""
    try:
        psi = float(value)
    except (TypeError, ValueError):
        raise refuse(f"The truncation must be a number between 0 and 1; got {value!r}") from None
    if not 0 <= psi <= 1:
        raise refuse(f"The truncation must be between 0 and 1; got {psi}")
    return psi


def refuse(message: str) -> gr.Error:
    """The error for a visitor's mistake: its message is for the page, and the server log
    gets one line instead of Gradio's traceback, since nothing on the server went wrong."""
    log.warning("refused: %s", message)
    return gr.Error(message, print_exception=False)


def brief(value: Any) -> str:
    """A short repr of a visitor's value for a message (it may be megabytes long)."""
    return _BRIEF.repr(value)


def whole_number(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number in [low, high], else a refusal (API
    callers can send any JSON: strings, lists, -1, 1e300, NaN)."""
    valid = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
        and low <= value <= high
    )
    if not valid:
        raise refuse(f"{what} must be a whole number from {low:,} to {high:,}; got {brief(value)}.")
    return int(value)


def one_of(value: Any, choices: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``choices`` (strings), else a refusal listing them."""
    if not isinstance(value, str) or value not in choices:
        raise refuse(f"Unknown {what} {brief(value)}; choose one of: {', '.join(choices)}.")
    return value


def upload_path(payload: Any) -> str | None:
    """The file behind an image input's raw value: Gradio's file data (a dict with the path
    of the upload in its cache) or None. The demo's image events run with
    ``preprocess=False``: ``gr.Image`` would otherwise open the upload with PIL itself, so a
    non-image file would fail inside Gradio with an internal message. This way
    :func:`img2img.images.load_image` reads it and the page says what is wrong with it.
    Only files in Gradio's upload folder are read: a client can send any path in that dict
    (or a bare string), and the demo must not translate the server's other files."""
    if payload is None:
        return None
    path = payload.get("path") if isinstance(payload, dict) else None
    uploads = Path(get_upload_folder()).resolve()
    if not isinstance(path, str) or not Path(path).resolve().is_relative_to(uploads):
        raise refuse("The image must be an uploaded file (with gradio_client: handle_file(path)).")
    return path


def tab_of(info: ModelInfo, tabs: Sequence[str]) -> str:
    """The tab of a model: the ``demo_tab`` its task registered, when it is one of ``tabs``;
    a task this version does not know, or whose tab is not there, translates (every
    generator maps an image to an image)."""
    task = TASKS.get(info.task)
    return task.demo_tab if task is not None and task.demo_tab in tabs else TRANSLATE


def load_translator(info: ModelInfo, direction: str | None, device: str, engine: str) -> Any:
    from img2img.infer import load

    return load(info.path, device, direction=direction, engine=engine)


def fit_pixels(
    image: Image.Image, max_pixels: int, labels: bool = False
) -> tuple[Image.Image, str]:
    """``image`` downscaled (Lanczos, aspect kept; nearest neighbour for a label map, whose
    colours are classes that blending would turn into colours of no class) to at most
    ``max_pixels``, and a note saying so ("" when it already fits)."""
    width, height = image.size
    if width * height <= max_pixels:
        return image, ""
    factor = math.sqrt(max_pixels / (width * height))
    size = (max(1, int(width * factor)), max(1, int(height * factor)))
    note = (
        f"The input ({width}x{height}) is over this demo's limit of {max_pixels:,} pixels: "
        f"it was downscaled to {size[0]}x{size[1]}."
    )
    resample = Image.Resampling.NEAREST if labels else Image.Resampling.LANCZOS
    return image.resize(size, resample), note


def upscale_for_display(path: Path) -> int:
    """Enlarge the image file at ``path`` in place by the smallest whole factor that makes
    it at least :data:`DISPLAY_WIDTH` wide, nearest-neighbour (each generated pixel becomes a
    square block, nothing is invented); returns the factor (1: left as it was)."""
    with Image.open(path) as image:
        factor = max(1, math.ceil(DISPLAY_WIDTH / image.width))
        if factor > 1:
            size = (image.width * factor, image.height * factor)
            image.resize(size, Image.Resampling.NEAREST).save(path)
    return factor


class DemoBackend:
    """What the demo's buttons do, on the models given (see the module docstring).

    ``loader(info, direction, device, engine)`` returns a callable PIL -> PIL with the model's
    ``config`` (default: a :class:`~img2img.infer.Translator` from :func:`img2img.load`);
    each (model, direction) is loaded once, on first use. Files for
    download and sample grids go to a new folder per request in ``output_dir`` (default: a
    temporary folder, removed when the backend is garbage-collected or Python exits); the
    newest ``keep_requests`` folders are kept, none older than ``keep_seconds``, so a
    server left running does not fill its disk. Gradio serves a copy from its own cache.
    """

    def __init__(
        self,
        models: Sequence[ModelInfo],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        device: str = "auto",
        output_dir: str | Path | None = None,
        loader: Loader = load_translator,
        keep_requests: int = 64,
        keep_seconds: float = 3600,
        engine: str = "auto",
    ) -> None:
        from img2img.devices import resolve_device
        from img2img.engines import resolve_engine

        if max_pixels < 1:
            raise ValueError(f"max_pixels={max_pixels}: must be at least 1")
        self.models = {info.name: info for info in models}
        self.max_pixels = max_pixels
        self.device = str(resolve_device(device))
        resolve_engine(engine, resolve_device(device))  # a bad choice fails now, not per request
        self.engine = engine
        if output_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="img2img-demo-")
            output_dir = self._temporary.name
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.keep_requests, self.keep_seconds = keep_requests, keep_seconds
        self._folders_lock = threading.Lock()
        self.loader = loader
        self._translators: dict[tuple[str, str | None], Any] = {}
        self._generators: dict[str, Any] = {}
        from img2img.demo.registry import TABS

        self.tabs = list(TABS)

    def names(self, tab: str) -> list[str]:
        """The models shown in ``tab``, in the order given."""
        return [name for name, info in self.models.items() if tab_of(info, self.tabs) == tab]

    def model(self, name: Any, tab: str) -> ModelInfo:
        return self.models[one_of(name, self.names(tab), "model")]

    def translator(self, info: ModelInfo, direction: str | None) -> Any:
        key = (info.name, direction)
        if key not in self._translators:
            try:
                self._translators[key] = self.loader(info, direction, self.device, self.engine)
            except (FileNotFoundError, ValueError) as err:
                raise gr.Error(f"Cannot load model {info.name}: {err}") from None
        return self._translators[key]

    def request_folder(self) -> Path:
        """A new folder in ``output_dir`` for one request's files, so that concurrent
        requests never overwrite each other's downloads; older requests' folders beyond
        ``keep_requests`` or ``keep_seconds`` are deleted first."""
        with self._folders_lock:  # concurrent requests must not delete each other's folder
            folders = sorted(
                self.output_dir.glob("request-*"), key=lambda f: f.stat().st_mtime, reverse=True
            )
            too_old = time.time() - self.keep_seconds
            for rank, folder in enumerate(folders, start=1):
                if rank >= self.keep_requests or folder.stat().st_mtime < too_old:
                    shutil.rmtree(folder, ignore_errors=True)
            return Path(tempfile.mkdtemp(dir=self.output_dir, prefix="request-"))

    def read_input(
        self, path: str | None, max_pixels: int, labels: bool = False
    ) -> tuple[Image.Image, str]:
        """The uploaded image as RGB within ``max_pixels``, and a note when it was shrunk
        (``labels``: a label map, see :func:`fit_pixels`). Messages name the file, never the
        folder it sits in on the server."""
        if not path:
            raise refuse("Upload an image first (or click one of the examples).")
        name = Path(path).name
        try:
            image = load_image(
                path, max_pixels=DECODE_FACTOR * self.max_pixels, reduce_to=max_pixels
            )
        except ImageTooLarge as err:
            raise refuse(
                f"Cannot use {name}: {err.width}x{err.height} pixels is more than this demo "
                f"reads ({err.limit:,} pixels); downscale it and upload it again."
            ) from None
        except ImageError as err:
            raise refuse(f"Cannot use {name}: {err.reason}") from None
        if min(image.size) < MIN_SIDE:
            raise refuse(
                f"Cannot use {name}: {image.width}x{image.height} pixels is too small; this "
                f"demo needs at least {MIN_SIDE} pixels on each side."
            )
        return fit_pixels(image, max_pixels, labels)

    def translate(
        self, name: str, direction: str | None, path: str | None
    ) -> tuple[Image.Image, str]:
        """Translation tab: (output image, status line). ``direction``: of a two-way model
        (default: its first); ignored for a one-way model."""
        info = self.model(name, TRANSLATE)
        if info.directions:
            direction = one_of(direction or info.directions[0], info.directions, "direction")
        else:
            direction = None
        labels = bool(read_config(info.path).get("label_nc"))
        image, note = self.read_input(path, self.max_pixels, labels)
        try:
            output = self.translator(info, direction)(image)
        except UnknownLabel as err:  # a label-map model given colours that are no class
            raise refuse(f"Cannot use {Path(str(path)).name} as a label map: {err}") from None
        way = f" ({direction})" if direction else ""
        return output, " ".join(filter(None, [note, f"Translated with {name}{way}."]))

    def super_resolve(
        self, name: str, path: str | None
    ) -> tuple[tuple[Image.Image, Image.Image], str, str]:
        """Super-resolution tab: ((bicubic upscale, model output), PNG file of the output,
        status). The pixel limit applies to the output, so the input may hold
        ``max_pixels / scale**2`` pixels."""
        info = self.model(name, SUPER_RESOLVE)
        translator = self.translator(info, None)
        scale = int(getattr(translator.config, "scale", 1))
        image, note = self.read_input(path, max(1, self.max_pixels // scale**2))
        output = translator(image)
        before = image.resize(output.size, Image.Resampling.BICUBIC)
        download = self.request_folder() / f"{Path(path).stem}_{info.path.stem}_x{scale}.png"
        output.save(download)
        status = f"{image.width}x{image.height} -> {output.width}x{output.height} with {name}."
        return (before, output), str(download), " ".join(filter(None, [note, status]))

    def inpaint(
        self, name: str, path: str | None, layers: Sequence[str] | None
    ) -> tuple[Image.Image, str]:
        """Inpainting tab: (completed image, status). ``path``: the image; ``layers``: the
        brush layers the visitor painted (RGBA files of the image's size; painted = opaque),
        whose union is the hole."""
        info = self.model(name, INPAINT)
        image, note = self.read_input(path, self.max_pixels)
        painted = [
            np.asarray(Image.open(layer).convert("RGBA"))[..., 3] > 0 for layer in layers or []
        ]
        if not painted or not any(layer.any() for layer in painted):
            raise refuse("Paint the hole to fill with the brush first (the mask is empty).")
        hole = Image.fromarray((np.logical_or.reduce(painted) * 255).astype(np.uint8))
        return self._fill(info, image, note, hole)

    def inpaint_masked(
        self, name: str, path: str | None, mask_path: str | None
    ) -> tuple[Image.Image, str]:
        """The ``inpaint`` endpoint: as :meth:`inpaint`, the hole given as an image file
        whose white pixels (over half brightness) are the hole, as ``img2img translate
        --mask`` takes it."""
        info = self.model(name, INPAINT)
        image, note = self.read_input(path, self.max_pixels)
        if not mask_path:
            raise refuse("Upload the mask too: an image whose white pixels are the hole.")
        mask, _ = self.read_input(mask_path, self.max_pixels)
        hole = mask.convert("L").point(lambda value: 255 if value > 127 else 0)
        if not hole.getbbox():
            raise refuse(f"{Path(mask_path).name} has no white pixels: the hole is empty.")
        return self._fill(info, image, note, hole)

    def _fill(
        self, info: ModelInfo, image: Image.Image, note: str, hole: Image.Image
    ) -> tuple[Image.Image, str]:
        """``image`` completed by ``info``'s model in ``hole`` (white = hole, any size: it
        is resized to the image with nearest neighbour), and the status line."""
        name = info.name
        hole = hole.resize(image.size, Image.Resampling.NEAREST)
        try:
            output = self.translator(info, None)(image, hole)
        except ImageError as err:
            raise refuse(f"Cannot fill this hole: {err.reason}") from None
        share = np.asarray(hole).mean() / 255
        status = f"Filled a hole of {share:.0%} of the image with {name}."
        return output, " ".join(filter(None, [note, status]))

    def autoencode(self, name: str, path: str | None) -> tuple[Image.Image, Image.Image, str]:
        """Autoencoder tab: (reconstruction, code map, status with the compression ratio).
        The code map shows each code in its own colour (a KL latent's first three channels),
        one block of f x f pixels per code, over the image padded to a multiple of f."""
        info = self.model(name, AUTOENCODE)
        translator = self.translator(info, None)
        image, note = self.read_input(path, self.max_pixels)
        codes = translator.encode(image)
        size = translator.generator.codebook_size
        factor = translator.multiple
        bits = code_bits(codes, size)
        what = f"{codes.shape[-1]}x{codes.shape[-2]} codes of {size}" if size else "latent"
        status = (
            f"{image.width}x{image.height} -> {what} ({bits:,.0f} bits): "
            f"{24 * image.width * image.height / bits:.1f}x smaller than 24-bit pixels."
        )
        code_map = colour_codes(codes, size).resize(
            (codes.shape[-1] * factor, codes.shape[-2] * factor), Image.Resampling.NEAREST
        )
        return translator(image), code_map, " ".join(filter(None, [note, status]))

    def class_choices(self, name: str | None) -> list[str]:
        """Label choices of a GAN: the classes of a conditional model, after "all"."""
        if name not in self.names(SAMPLE):  # a list, not a dict: any JSON value is safe here
            return []
        values = read_config(self.models[name].path)
        if not values.get("conditional"):
            return []
        return [ALL_CLASSES] + [str(label) for label in range(int(values["num_classes"]))]

    def generator(self, name: str) -> Any:
        """The GAN ``name``'s generator, loaded once (for what it offers, not to sample:
        samples come from ``img2img sample``'s code)."""
        from img2img.sampling import load_gan

        if name not in self._generators:
            try:
                self._generators[name] = load_gan(self.models[name].path)[0]
            except (FileNotFoundError, ValueError) as err:
                raise gr.Error(f"Cannot load model {name}: {err}") from None
        return self._generators[name]

    def generator_kind(self, name: str | None) -> str:
        """ "style-mix" for a style generator, "chain" for one that denoises in steps, else
        "": which extra controls the GAN tab shows (:func:`img2img.sampling.extra_figure`)."""
        from img2img.sampling import extra_figure

        if name not in self.names(SAMPLE):
            return ""
        return extra_figure(self.generator(name))

    def extras(self, name: str, seed: float, truncation: float = 1.0) -> tuple[str, str]:
        """GAN tab, second figure: a style model's 4 x 4 style-mixing grid (coarse styles
        from the top row, fine from the left column) or a DDGAN's denoising steps
        (x_T ... x_0, one row per sample); (file, status)."""
        from img2img.sampling import write_sample_files

        info = self.model(name, SAMPLE)
        kind = self.generator_kind(name)
        if not kind:
            raise refuse(f"{name} has neither styles to mix nor denoising steps.")
        seed = whole_number(seed, "The seed", 0, MAX_SEED)
        truncation = truncation_psi(truncation)
        try:
            files = write_sample_files(
                info.path,
                self.request_folder() / "samples.png",
                n=4,
                seed=seed,
                interpolations=0,
                device=self.device,
                engine=self.engine,
                truncation=truncation if kind == "style-mix" else 1.0,
                style_mix=4 if kind == "style-mix" else 0,
                chain=kind == "chain",
            )
        except (FileNotFoundError, ValueError) as err:
            raise gr.Error(f"Cannot sample from {name}: {err}") from None
        upscale_for_display(files[-1])
        if kind == "style-mix":
            return str(files[-1]), f"Style mixing from {name}, seed {seed}, psi {truncation}."
        steps = self.generator(name).steps
        return str(files[-1]), f"{steps} denoising steps of {name}, seed {seed}."

    def sample(
        self,
        name: str,
        seed: float,
        label: str | None,
        count: float,
        rows: float,
        steps: float,
        truncation: float = 1.0,
    ) -> tuple[str, str | None, str]:
        """GAN tab: (grid file, interpolation strip file or None, status), written by
        ``img2img sample``'s :func:`~img2img.sampling.write_sample_files` and upscaled for
        the page (:func:`upscale_for_display`). ``label``: a class of a conditional model
        (as a string, like the picker's choices), or None / :data:`ALL_CLASSES` for all.
        ``truncation``: psi of a style model's truncation trick (1: off)."""
        from img2img.sampling import growth_note, write_sample_files

        info = self.model(name, SAMPLE)
        seed = whole_number(seed, "The seed", 0, MAX_SEED)
        count = whole_number(count, "The number of samples", SAMPLES.low, SAMPLES.high)
        rows = whole_number(rows, "The number of interpolation rows", ROWS.low, ROWS.high)
        steps = whole_number(steps, "The number of images per row", STEPS.low, STEPS.high)
        chosen = None
        if label not in (None, "", ALL_CLASSES):
            classes = self.class_choices(name)[1:]
            if not classes:
                raise refuse(f"{name} is not class-conditional: it takes no class.")
            chosen = int(one_of(label, classes, "class"))
        truncation = truncation_psi(truncation)
        if truncation != 1 and self.generator_kind(name) != "style-mix":
            raise refuse(f"{name} is not a style model: it has no truncation.")
        try:
            files = write_sample_files(
                info.path,
                self.request_folder() / "samples.png",
                n=count,
                label=chosen,
                seed=seed,
                interpolations=rows,
                steps=steps,
                device=self.device,
                engine=self.engine,
                truncation=truncation,
            )
        except (FileNotFoundError, ValueError) as err:
            raise gr.Error(f"Cannot sample from {name}: {err}") from None
        enlarged = max(upscale_for_display(path) for path in files) > 1
        strip = str(files[1]) if len(files) > 1 else None
        which = "" if chosen is None else f" of class {chosen}"
        plural = "" if count == 1 else "s"
        zoom = " Enlarged for display (nearest neighbour)." if enlarged else ""
        grown = growth_note(info.path)
        grown = f" {name} was {grown}." if grown else ""
        return (
            str(files[0]),
            strip,
            f"{count} sample{plural}{which} from {name}, seed {seed}.{grown}{zoom}",
        )


def colour_codes(codes: Any, codebook_size: int) -> Image.Image:
    """One pixel per code: a code map ``(h, w)`` in fixed random colours (the same code, the
    same colour, in every image), or a float latent ``(C, h, w)``'s first three channels
    stretched to [0, 255]."""
    if codebook_size:
        palette = np.random.default_rng(0).integers(0, 256, (codebook_size, 3), dtype=np.uint8)
        return Image.fromarray(palette[codes.numpy()])
    latent = codes[:3].float()
    latent = (latent - latent.min()) / (latent.max() - latent.min() + 1e-8)
    if len(latent) < 3:
        latent = latent[:1].expand(3, -1, -1)
    return Image.fromarray((latent.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
