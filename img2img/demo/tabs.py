"""The demo's tabs, registered by name: each lays out widgets over :class:`DemoBackend`'s
functions and may add the named API endpoint programs call (``gradio_client``).

A recipe names its tab when it registers (``register_task(..., demo_tab="translate")``),
and every model goes to its task's tab (:func:`~img2img.demo.backend.tab_of`). The
built-in tabs: image translation, super-resolution, GAN sampling, inpainting and the
autoencoder, each with an endpoint (``translate``, ``super_resolve``, ``sample``,
``inpaint``, ``autoencode``). A tab of another package registers with :func:`register_tab`
in a module named in the ``img2img.demo_tabs`` entry-point group.

In the page, a refused request empties the tab's outputs and shows its message in the
status line (:func:`in_page`); the endpoints raise it, as a program expects. Every event
that runs a model shares one concurrency group (``COMPUTE``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData
from PIL import Image

from img2img.data.labels import palette_legend
from img2img.demo.backend import (
    AUTOENCODE,
    COMPUTE,
    EXTRAS,
    INPAINT,
    INPAINT_EXAMPLE,
    MAX_SEED,
    ROWS,
    SAMPLE,
    SAMPLES,
    SR_EXAMPLE,
    STEPS,
    SUPER_RESOLVE,
    TRANSLATE,
    TRANSLATE_EXAMPLE,
    DemoBackend,
    upload_path,
)
from img2img.demo.registry import TABS, register_tab
from img2img.saved_models import read_config
from img2img.tasks import TASKS

log = logging.getLogger(__name__)


def tab_header(backend: DemoBackend, tab: str) -> tuple[gr.Dropdown, gr.Markdown] | None:
    """A tab's model picker and the picked model's summary; None, after a note saying how to
    add one (the tasks whose models it shows), when no model of the tab's kind is loaded."""
    names = backend.names(tab)
    if not names:
        tasks = " | ".join(name for name, task in TASKS.items() if task.demo_tab == tab)
        gr.Markdown(
            f"No {TABS[tab].what} model is loaded. Train one (`img2img train --task "
            f"{tasks or 'NAME'} ...`) and start the demo with `img2img demo --model runs/NAME`."
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


def in_page(
    run: Callable[..., tuple], outputs: int, keep_outputs: bool = False
) -> Callable[..., tuple]:
    """``run`` as a button's handler: when it is refused (or fails), the handler empties the
    tab's ``outputs`` outputs instead and puts the message in the status line (the last
    output), so no earlier result is left beside it and the message stays after the toast
    has faded; with ``keep_outputs`` the other outputs stay as they are (the GAN Lab's
    views and timer). A failure that is not a visitor's mistake is logged with its
    traceback."""

    def handler(*args: Any) -> tuple:
        try:
            return run(*args)
        except gr.Error as err:
            message = err.message
        except Exception:
            log.exception("the demo failed on a request")
            message = "The server failed on this request; its log says why."
        gr.Warning(message, title="Error")
        rest = gr.skip() if keep_outputs else None
        return (*[rest] * (outputs - 1), f"Error: {message}")

    # Gradio finds a gr.Request parameter in run's signature and annotations; the handler
    # keeps its own name, from which Gradio would name an endpoint.
    return functools.update_wrapper(handler, run, assigned=("__doc__", "__annotations__"))


def on_compute(
    trigger: Callable[..., Any],
    run: Callable[..., tuple],
    inputs: list[Any],
    outputs: list[Any],
    preprocess: bool = True,
) -> Any:
    """Wire ``trigger`` (a button's ``click``, an example's ``then``) to ``run`` as the
    page's own handler: refusals shown in the tab (:func:`in_page`), private (the public
    endpoints are the tabs' ``api``), and in the one queue that bounds the demo's
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


def _translate_api(backend: DemoBackend) -> None:
    """The ``translate`` endpoint (when the tab has a model)."""
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


@register_tab(TRANSLATE, "Image translation", "image translation", api=_translate_api)
def _translation_tab(backend: DemoBackend) -> None:
    header = tab_header(backend, TRANSLATE)
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


def _super_resolve_api(backend: DemoBackend) -> None:
    """The ``super_resolve`` endpoint (when the tab has a model)."""
    upscalers = backend.names(SUPER_RESOLVE)
    if upscalers:

        def super_resolve(image: FileData, model: str = upscalers[0]) -> tuple[FileData, str]:
            """Upscale an image with a super-resolution model; returns the full-resolution
            PNG and a status line (the pixel limit applies to the output)."""
            _, download, status = backend.super_resolve(model, upload_path(image))
            return FileData(path=download), status

        gr.api(super_resolve, api_name="super_resolve", concurrency_id=COMPUTE)


@register_tab(SUPER_RESOLVE, "Super-resolution", "super-resolution", api=_super_resolve_api)
def _super_resolution_tab(backend: DemoBackend) -> None:
    header = tab_header(backend, SUPER_RESOLVE)
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


def _sample_api(backend: DemoBackend) -> None:
    """The ``sample`` endpoint (when the tab has a model)."""
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


@register_tab(SAMPLE, "GAN sampling", "GAN", api=_sample_api)
def _sampling_tab(backend: DemoBackend) -> None:
    header = tab_header(backend, SAMPLE)
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


def _inpaint_api(backend: DemoBackend) -> None:
    """The ``inpaint`` endpoint (when the tab has a model)."""
    inpainters = backend.names(INPAINT)
    if inpainters:

        def inpaint(
            image: FileData, mask: FileData, model: str = inpainters[0]
        ) -> tuple[FileData, str]:
            """Fill the hole of an image with an inpainting model; ``mask`` is an image whose
            white pixels are the hole (resized to the image with nearest neighbour). Returns
            the completed image (PNG; every pixel outside the hole is the input's) and a
            status line."""
            output, status = backend.inpaint_masked(model, upload_path(image), upload_path(mask))
            path = backend.request_folder() / "completed.png"
            output.save(path)
            return FileData(path=str(path)), status

        gr.api(inpaint, api_name="inpaint", concurrency_id=COMPUTE)


@register_tab(INPAINT, "Inpainting", "inpainting", api=_inpaint_api)
def _inpainting_tab(backend: DemoBackend) -> None:
    header = tab_header(backend, INPAINT)
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


def _autoencode_api(backend: DemoBackend) -> None:
    """The ``autoencode`` endpoint (when the tab has a model)."""
    autoencoders = backend.names(AUTOENCODE)
    if autoencoders:

        def autoencode(
            image: FileData, model: str = autoencoders[0]
        ) -> tuple[FileData, FileData, str]:
            """Encode and decode an image with an autoencoder model: the reconstruction
            (PNG), the code map (one colour a code, f x f pixels each) and a status line with
            the compression ratio."""
            output, code_map, status = backend.autoencode(model, upload_path(image))
            folder = backend.request_folder()
            output.save(folder / "reconstruction.png")
            code_map.save(folder / "codes.png")
            files = (
                FileData(path=str(folder / name)) for name in ("reconstruction.png", "codes.png")
            )
            return (*files, status)

        gr.api(autoencode, api_name="autoencode", concurrency_id=COMPUTE)


@register_tab(AUTOENCODE, "Autoencoder", "autoencoder", api=_autoencode_api)
def _autoencoder_tab(backend: DemoBackend) -> None:
    header = tab_header(backend, AUTOENCODE)
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
