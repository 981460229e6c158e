"""The Gradio web demo (``img2img demo``): one app with a tab per kind of model.

- **Image translation** (pix2pix, CycleGAN with a direction picker, and any task this module
  does not know, since every generator maps an image to an image),
- **Super-resolution** (task ``srgan``): a before/after slider (the input upscaled by bicubic
  against the model's output) and the full-resolution result as a download,
- **GAN sampling** (tasks ``gan`` and ``progan``, whose status line says the resolution a
  progressively grown model reached): seed, class label for conditional models, number of
  samples and a strip of latent interpolations, drawn by ``img2img sample``'s own code.
- **Inpainting** (task ``inpaint``): paint the hole on the image with a brush (Gradio's
  ``ImageEditor``), get the completed image beside it; an empty or all-over mask is refused
  with a message. The editor's files are read by Gradio itself (``preprocess``), unlike the
  other tabs' uploads: its own upload widget only takes images.
- **Autoencoder** (task ``vqgan``): the reconstruction, the code map (one colour a code)
  and the compression ratio of the codes.

The UI is a thin layer over :class:`DemoBackend`, whose methods take file paths and numbers
and return images and a status line, so tests call them without a browser. Every input is
checked (model names, directions, classes, seeds, counts, uploads) and a visitor's mistake
becomes a ``gr.Error`` worded for a visitor, logged as one line (no traceback: it is not a
fault of the server). In the page, a refused request empties the tab's outputs and shows its
message in the status line, where it stays (a toast fades). Images over ``max_pixels`` are
downscaled and the status line says so; images under :data:`MIN_SIDE` are refused, and so
are uploads that would decode to over :data:`DECODE_FACTOR` x ``max_pixels``, which bounds
a request's memory. Programs use the named endpoints ``translate``, ``super_resolve`` and
``sample`` (:func:`_public_api`); the page's handlers are private. Requests queue
(``demo.queue``), one at a time by default: a model already uses every CPU core for one
image. Request files and Gradio's cache are pruned by age and count and removed at exit.
"""

from __future__ import annotations

import logging
import math
import reprlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
from gradio.data_classes import FileData
from gradio.utils import get_upload_folder
from PIL import Image

from img2img.catalog import ModelInfo, describe_model, list_models
from img2img.data.labels import palette_legend
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

# The tabs, named by the task classes' ``demo_tab``.
TRANSLATE, SUPER_RESOLVE, SAMPLE, INPAINT = "translate", "super-resolve", "sample", "inpaint"
AUTOENCODE = "autoencode"
ALL_CLASSES = "all (one class per column)"
# The GAN tab's second figure, per generator kind (DemoBackend.generator_kind).
EXTRAS = {"style": "Mix styles", "ddgan": "Show the denoising steps"}

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


def tab_of(info: ModelInfo) -> str:
    """The tab of a model: its task class's ``demo_tab``; a task this version does not know
    translates (every generator maps an image to an image)."""
    task = TASKS.get(info.task)
    return task.demo_tab if task is not None else TRANSLATE


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

    def names(self, tab: str) -> list[str]:
        return [name for name, info in self.models.items() if tab_of(info) == tab]

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

    def generator_kind(self, name: str | None) -> str:
        """ "style" for a style generator, "ddgan" for a Denoising Diffusion GAN, else "":
        which extra controls the GAN tab shows."""
        if name not in self.names(SAMPLE):
            return ""
        values = read_config(self.models[name].path)
        if values.get("task") == "ddgan":
            return "ddgan"
        return "style" if values.get("generator") == "style" else ""

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
                truncation=truncation if kind == "style" else 1.0,
                style_mix=4 if kind == "style" else 0,
                chain=kind == "ddgan",
            )
        except (FileNotFoundError, ValueError) as err:
            raise gr.Error(f"Cannot sample from {name}: {err}") from None
        upscale_for_display(files[-1])
        if kind == "style":
            return str(files[-1]), f"Style mixing from {name}, seed {seed}, psi {truncation}."
        steps = int(read_config(info.path).get("steps", 0))
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
        if truncation != 1 and self.generator_kind(name) != "style":
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


def _tab_header(
    backend: DemoBackend, tab: str, what: str, task: str
) -> tuple[gr.Dropdown, gr.Markdown] | None:
    """A tab's model picker and the picked model's summary; None, after a note saying how to
    add one, when no model of the tab's kind is loaded."""
    names = backend.names(tab)
    if not names:
        gr.Markdown(
            f"No {what} model is loaded. Train one (`img2img train --task {task} ...`) and "
            "start the demo with `img2img demo --model runs/NAME`."
        )
        return None
    model = gr.Dropdown(names, value=names[0], label="Model", interactive=len(names) > 1)
    return model, gr.Markdown(_summary(backend, names[0]))


def _summary(backend: DemoBackend, name: str) -> str:
    """The model card's summary, and the colour legend of a label-map model's palette."""
    info = backend.models.get(name)
    if info is None:
        return ""
    legend = palette_legend(read_config(info.path))
    return f"{info.summary}\n\n{legend}" if legend else info.summary


def in_page(run: Callable[..., tuple], outputs: int) -> Callable[..., tuple]:
    """``run`` as a button's handler: when it is refused (or fails), the handler empties the
    tab's ``outputs`` outputs instead and puts the message in the status line (the last
    output), so no earlier result is left beside it and the message stays after the toast
    has faded. A failure that is not a visitor's mistake is logged with its traceback."""

    def handler(*args: Any) -> tuple:
        try:
            return run(*args)
        except gr.Error as err:
            message = err.message
        except Exception:
            log.exception("the demo failed on a request")
            message = "The server failed on this request; its log says why."
        gr.Warning(message, title="Error")
        return (*[None] * (outputs - 1), f"Error: {message}")

    return handler


def on_compute(
    trigger: Callable[..., Any],
    run: Callable[..., tuple],
    inputs: list[Any],
    outputs: list[Any],
    preprocess: bool = True,
) -> Any:
    """Wire ``trigger`` (a button's ``click``, an example's ``then``) to ``run`` as the
    page's own handler: refusals shown in the tab (:func:`in_page`), private (the public
    endpoints are :func:`_public_api`'s), and in the one queue that bounds the demo's
    concurrent compute (``COMPUTE``)."""
    return trigger(
        in_page(run, len(outputs)),
        inputs,
        outputs,
        preprocess=preprocess,
        api_visibility="private",
        concurrency_id=COMPUTE,
    )


def _bundled_example(
    path: Path,
    model: gr.Dropdown,
    source: gr.Image,
    outputs: list[Any],
    run: Callable[[str, Any], Any],
) -> None:
    """A bundled input image (when the file is there) that runs ``run(model, image)`` with
    the tab's first model as soon as a visitor clicks it. The run is chained here rather
    than by ``run_on_click``, which would make it an undocumented public endpoint outside
    the demo's concurrency group."""
    if path.is_file():
        examples = gr.Examples(
            [[model.value, str(path)]], [model, source], api_visibility="private"
        )
        on_compute(examples.load_input_event.then, run, [model, source], outputs, preprocess=False)


def _translation_tab(backend: DemoBackend) -> None:
    header = _tab_header(backend, TRANSLATE, "image translation", "pix2pix")
    if header is None:
        return
    model, summary = header
    first = backend.models[model.value]
    direction = gr.Radio(
        list(first.directions),
        value=(first.directions or (None,))[0],
        label="Direction",
        visible=bool(first.directions),
    )

    def picked(name: str) -> tuple[str, Any]:
        directions = list(backend.models[name].directions) if name in backend.models else []
        return _summary(backend, name), gr.Radio(
            directions, value=(directions or [None])[0], visible=bool(directions)
        )

    model.change(picked, model, [summary, direction], api_visibility="private")
    with gr.Row():
        source = gr.Image(type="filepath", label="Input image", elem_id="translation-input")
        output = gr.Image(type="pil", format="png", label="Output", elem_id="translation-output")
    run = gr.Button("Translate", variant="primary")
    status = gr.Markdown(elem_id="translation-status")
    outputs = [output, status]
    on_compute(
        run.click,
        lambda name, way, image: backend.translate(name, way, upload_path(image)),
        [model, direction, source],
        outputs,
        preprocess=False,
    )
    _bundled_example(
        TRANSLATE_EXAMPLE,
        model,
        source,
        outputs,
        lambda name, image: backend.translate(name, None, upload_path(image)),
    )


def _super_resolution_tab(backend: DemoBackend) -> None:
    header = _tab_header(backend, SUPER_RESOLVE, "super-resolution", "srgan")
    if header is None:
        return
    model, summary = header
    model.change(lambda name: _summary(backend, name), model, summary, api_visibility="private")
    source = gr.Image(type="filepath", label="Low-resolution input", elem_id="sr-input")
    run = gr.Button("Upscale", variant="primary")
    comparison = gr.ImageSlider(label="Bicubic | model", format="png")
    download = gr.File(label="Full-resolution result (PNG)")
    status = gr.Markdown(elem_id="sr-status")
    outputs = [comparison, download, status]

    def run_model(name: str, image: dict[str, Any] | None) -> Any:
        return backend.super_resolve(name, upload_path(image))

    on_compute(run.click, run_model, [model, source], outputs, preprocess=False)
    _bundled_example(SR_EXAMPLE, model, source, outputs, run_model)


def _sampling_tab(backend: DemoBackend) -> None:
    header = _tab_header(backend, SAMPLE, "GAN", "gan")
    if header is None:
        return
    model, summary = header
    classes = backend.class_choices(model.value)
    with gr.Row():
        seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
        label = gr.Dropdown(
            classes, value=(classes or [None])[0], label="Class", visible=bool(classes)
        )
        count = gr.Slider(*SAMPLES, step=1, label="Samples")
    with gr.Row():
        rows = gr.Slider(*ROWS, step=1, label="Interpolation rows (0: none)")
        steps = gr.Slider(*STEPS, step=1, label="Images per row")
    kind = backend.generator_kind(model.value)
    truncation = gr.Slider(
        0, 1, value=1, step=0.05, label="Truncation psi (style models)", visible=kind == "style"
    )

    def picked(name: str) -> tuple[str, Any, Any, Any]:
        choices = backend.class_choices(name)
        kind = backend.generator_kind(name)
        return (
            _summary(backend, name),
            gr.Dropdown(choices, value=(choices or [None])[0], visible=bool(choices)),
            gr.Slider(visible=kind == "style"),
            gr.Button(value=EXTRAS.get(kind, ""), visible=bool(kind)),
        )

    extra_run = gr.Button(EXTRAS.get(kind, ""), visible=bool(kind))
    model.change(picked, model, [summary, label, truncation, extra_run], api_visibility="private")
    run = gr.Button("Sample", variant="primary")
    grid = gr.Image(type="filepath", format="png", label="Samples", elem_id="samples")
    strip = gr.Image(type="filepath", format="png", label="Latent interpolations (slerp)")
    status = gr.Markdown(elem_id="sample-status")
    inputs = [model, seed, label, count, rows, steps, truncation]
    on_compute(run.click, backend.sample, inputs, [grid, strip, status])
    extra = gr.Image(type="filepath", format="png", label="Style mixing / denoising steps")
    on_compute(extra_run.click, backend.extras, [model, seed, truncation], [extra, status])


def _inpainting_tab(backend: DemoBackend) -> None:
    header = _tab_header(backend, INPAINT, "inpainting", "inpaint")
    if header is None:
        return
    model, summary = header
    model.change(lambda name: _summary(backend, name), model, summary, api_visibility="private")
    with gr.Row():
        editor = gr.ImageEditor(
            type="filepath",
            label="Image: paint the hole with the brush",
            brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
            eraser=gr.Eraser(),
            transforms=(),
            elem_id="inpaint-input",
        )
        output = gr.Image(type="pil", format="png", label="Completed", elem_id="inpaint-output")
    run = gr.Button("Fill the hole", variant="primary")
    status = gr.Markdown(elem_id="inpaint-status")

    def run_model(name: str, value: dict[str, Any] | None) -> tuple[Image.Image, str]:
        value = value or {}
        return backend.inpaint(name, value.get("background"), value.get("layers"))

    on_compute(run.click, run_model, [model, editor], [output, status])
    if INPAINT_EXAMPLE.is_file():
        gr.Examples([[str(INPAINT_EXAMPLE)]], [editor], api_visibility="private")


def _autoencoder_tab(backend: DemoBackend) -> None:
    header = _tab_header(backend, AUTOENCODE, "autoencoder", "vqgan")
    if header is None:
        return
    model, summary = header
    model.change(lambda name: _summary(backend, name), model, summary, api_visibility="private")
    with gr.Row():
        source = gr.Image(type="filepath", label="Input image", elem_id="autoencoder-input")
        output = gr.Image(type="pil", format="png", label="Reconstruction")
        code_map = gr.Image(type="pil", format="png", label="Code map (one colour a code)")
    run = gr.Button("Encode and decode", variant="primary")
    status = gr.Markdown(elem_id="autoencoder-status")
    on_compute(
        run.click,
        lambda name, image: backend.autoencode(name, upload_path(image)),
        [model, source],
        [output, code_map, status],
        preprocess=False,
    )


def _public_api(backend: DemoBackend) -> None:
    """The endpoints for programs (``gradio_client``, ``/gradio_api/...``): ``translate``,
    ``super_resolve`` and ``sample``, each for the tabs that have a model, callable on its
    own (no session state, every input checked), documented by its type hints and
    docstring. The page's own handlers are private: they return a refusal as a status line,
    while here it is an error, as a program expects."""

    translators = backend.names(TRANSLATE)
    if translators:

        def translate(
            image: FileData, model: str = translators[0], direction: str | None = None
        ) -> tuple[FileData, str]:
            """Translate an image (PNG out) with an image-translation model; returns the
            output and a status line. ``model``: one of the models of the page's first tab;
            ``direction``: AtoB or BtoA for a two-way model (default: the first it has)."""
            output, status = backend.translate(model, direction, upload_path(image))
            path = backend.request_folder() / "output.png"
            output.save(path)
            return FileData(path=str(path)), status

        gr.api(translate, api_name="translate", concurrency_id=COMPUTE)

    upscalers = backend.names(SUPER_RESOLVE)
    if upscalers:

        def super_resolve(image: FileData, model: str = upscalers[0]) -> tuple[FileData, str]:
            """Upscale an image with a super-resolution model; returns the full-resolution
            PNG and a status line (the pixel limit applies to the output)."""
            _, download, status = backend.super_resolve(model, upload_path(image))
            return FileData(path=download), status

        gr.api(super_resolve, api_name="super_resolve", concurrency_id=COMPUTE)

    samplers = backend.names(SAMPLE)
    if samplers:

        def sample(
            model: str = samplers[0],
            seed: int = 0,
            label: str | None = None,
            count: int = SAMPLES.default,
            rows: int = ROWS.default,
            steps: int = STEPS.default,
            truncation: float = 1.0,
        ) -> tuple[FileData, FileData | None, str]:
            """Draw ``count`` samples from a GAN (a grid, enlarged for display) and ``rows``
            latent interpolations of ``steps`` images (None when rows is 0), with a status
            line. ``label``: a class of a conditional model ("0", "1", ...), or None for one
            class per column; ``truncation``: psi for a style model (1: off)."""
            grid, strip, status = backend.sample(model, seed, label, count, rows, steps, truncation)
            return FileData(path=grid), strip and FileData(path=strip), status

        gr.api(sample, api_name="sample", concurrency_id=COMPUTE)


def build_demo(
    models: Sequence[str | Path | ModelInfo] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: str = "auto",
    concurrency: int = 1,
    queue_size: int = 32,
    loader: Loader = load_translator,
    engine: str = "auto",
) -> gr.Blocks:
    """The demo app, queued, not launched. ``models``: names or paths as ``translate``
    takes them, or :class:`ModelInfo` from :func:`img2img.list_models` (default: the shipped
    models). ``max_pixels``: larger inputs are downscaled. ``concurrency`` requests run at
    once; up to ``queue_size`` more wait (later ones are turned away with a message).
    ``engine``: what runs every tab's networks (see :mod:`img2img.engines`)."""
    infos = [
        m if isinstance(m, ModelInfo) else describe_model(m)
        for m in (list_models(runs=None) if models is None else models)
    ]
    backend = DemoBackend(infos, max_pixels=max_pixels, device=device, loader=loader, engine=engine)
    with gr.Blocks(title="img2img demo", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            "# img2img\nImage-to-image translation with GANs. Inputs over "
            f"{max_pixels:,} pixels are downscaled."
        )
        with gr.Tab("Image translation"):
            _translation_tab(backend)
        with gr.Tab("Super-resolution"):
            _super_resolution_tab(backend)
        with gr.Tab("GAN sampling"):
            _sampling_tab(backend)
        with gr.Tab("Inpainting"):
            _inpainting_tab(backend)
        with gr.Tab("Autoencoder"):
            _autoencoder_tab(backend)
        _public_api(backend)
    demo.backend = backend  # for callers and tests that drive the functions directly
    return demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> gr.Blocks:
    """Serve ``demo``; errors show their message in the page (``show_error``), and uploads
    over ``max_upload_bytes`` are refused. The backend's output folder is served: the API
    returns its files as they are (the page's outputs go through Gradio's cache). With
    ``block=False`` it returns once the server is up (call ``demo.close()`` to stop it).
    Blocking, it stops on SIGTERM (a service manager's stop) as on Ctrl-C, which Gradio
    handles by closing the server and deleting its cache; the demo's output folder goes
    when Python exits (instead of being left behind by a killed process)."""
    if block:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        show_error=True,
        max_file_size=max_upload_bytes,
        allowed_paths=[str(demo.backend.output_dir)],
        prevent_thread_lock=not block,
        quiet=not block,
    )
    return demo
