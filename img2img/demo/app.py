"""The demo app: every registered tab over one :class:`DemoBackend`, queued; and its server."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from img2img.catalog import ModelInfo, describe_model, list_models
from img2img.demo.backend import (
    CACHE_CLEANUP,
    DEFAULT_MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    DemoBackend,
    Loader,
    load_translator,
)
from img2img.demo.registry import TABS


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
        for _, tab in TABS.items():  # every registered tab, in the order registered
            with gr.Tab(tab.title):
                tab.build(backend)
        for _, tab in TABS.items():
            if tab.api is not None:
                tab.api(backend)
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
