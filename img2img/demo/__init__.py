"""The Gradio web demo (``img2img demo``): one app with a tab per kind of model.

Each model goes to the tab its task registered (:mod:`img2img.demo.tabs`; a task this version
does not know translates, since every generator maps an image to an image):

- **Image translation** (pix2pix, pix2pixHD, CycleGAN with a direction picker),
- **Super-resolution** (task ``srgan``): a before/after slider (the input upscaled by bicubic
  against the model's output) and the full-resolution result as a download,
- **GAN sampling** (tasks ``gan``, ``ddgan`` and ``progan``, whose status line says the
  resolution a progressively grown model reached): seed, class label for conditional
  models, number of samples and a strip of latent interpolations, drawn by ``img2img
  sample``'s own code; style mixing or the denoising steps where the generator has them.
- **Inpainting** (task ``inpaint``): paint the hole on the image with a brush (Gradio's
  ``ImageEditor``), get the completed image beside it; an empty or all-over mask is refused
  with a message. The editor's files are read by Gradio itself (``preprocess``), unlike the
  other tabs' uploads: its own upload widget only takes images.
- **Autoencoder** (task ``vqgan``): the reconstruction, the code map (one colour a code)
  and the compression ratio of the codes.
- **GAN Lab** (no model needed, :mod:`img2img.demo.lab`): a 2-D GAN trained live in the
  page with ``img2img train --task gan --net mlp``'s own code, one or two setups side by
  side, exported as a run directory the CLI resumes.

The UI is a thin layer over :class:`DemoBackend` (:mod:`img2img.demo.backend`), whose methods
take file paths and numbers and return images and a status line, so tests call them without
a browser. Every input is
checked (model names, directions, classes, seeds, counts, uploads) and a visitor's mistake
becomes a ``gr.Error`` worded for a visitor, logged as one line (no traceback: it is not a
fault of the server). In the page, a refused request empties the tab's outputs and shows its
message in the status line, where it stays (a toast fades). Images over ``max_pixels`` are
downscaled and the status line says so; images under :data:`MIN_SIDE` are refused, and so
are uploads that would decode to over :data:`DECODE_FACTOR` x ``max_pixels``, which bounds
a request's memory. Programs use the named endpoints ``translate``, ``super_resolve``,
``sample``, ``inpaint``, ``autoencode`` and ``gan_lab`` (each tab's ``api``); the page's
handlers are private. Requests queue
(``demo.queue``), one at a time by default: a model already uses every CPU core for one
image. Request files and Gradio's cache are pruned by age and count and removed at exit.
"""

from img2img.demo.app import build_demo, launch
from img2img.demo.backend import (
    ALL_CLASSES,
    AUTOENCODE,
    CACHE_CLEANUP,
    DECODE_FACTOR,
    DEFAULT_MAX_PIXELS,
    INPAINT,
    MAX_UPLOAD_BYTES,
    MIN_SIDE,
    SAMPLE,
    SUPER_RESOLVE,
    TRANSLATE,
    DemoBackend,
    colour_codes,
    fit_pixels,
)
from img2img.demo.registry import TABS, DemoTab, register_tab

__all__ = [
    "ALL_CLASSES",
    "AUTOENCODE",
    "CACHE_CLEANUP",
    "DECODE_FACTOR",
    "DEFAULT_MAX_PIXELS",
    "INPAINT",
    "MAX_UPLOAD_BYTES",
    "MIN_SIDE",
    "SAMPLE",
    "SUPER_RESOLVE",
    "TABS",
    "TRANSLATE",
    "DemoBackend",
    "DemoTab",
    "build_demo",
    "colour_codes",
    "fit_pixels",
    "launch",
    "register_tab",
]
