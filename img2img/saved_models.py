"""Finding and reading saved models: run directories, two-file models, shipped ones, the Hub's.

A model is a training config (JSON with a ``"task"`` field) and generator weights
(safetensors). It can be named in four ways, tried in this order (an ``hf://`` name first):

1. a model directory holding ``config.json`` + ``generator.safetensors`` (what training
   writes at each checkpoint);
2. ``X.safetensors`` with its config ``X.json`` beside it: a model passed around as two
   files. The weights file of a model directory (``runs/x/generator_ema.safetensors``) also
   works: without an ``X.json`` the directory's ``config.json`` is its config;
3. the name of a model shipped in ``weights/`` (``"facades-label2photo"``);
4. a model on the Hugging Face Hub: ``hf://org/name[@revision]`` always (tried first), and
   ``org/name[@revision]`` when nothing on disk has that name (:mod:`img2img.hub_models`).

The shipped models and the demo's examples are found by :func:`shipped_folder`: inside the
installed package when img2img comes from a wheel (the build copies them there, see
``setup.py``), else the checkout's top-level ``weights/`` and ``examples/``.

It reads files only (a Hub model's once downloaded) and knows no task, so a recipe may use it
(SRGAN's ``--init-from``); listing models with their tasks is :mod:`img2img.catalog`, and
rebuilding a generator from them :func:`img2img.infer.load_generator`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file

from img2img.checkpoint import CONFIG_FILE, GENERATOR_FILE, load_model_files
from img2img.checkpoint import MODEL_CARD_FILE as MODEL_CARD_FILE  # where it was named first
from img2img.config import saved_options
from img2img.hub_models import (
    HUB_SCHEME,
    HubModelUnavailable,
    HubName,
    download_model,
    parse_hub_name,
)


def shipped_folder(name: str) -> Path:
    """The folder of files shipped with img2img (``"weights"``, ``"examples"``): the copy a
    wheel carries inside the package, ``img2img/_shipped/NAME``, else the checkout's
    top-level ``NAME/`` (a source checkout or an editable install)."""
    package = Path(__file__).resolve().parent
    packaged = package / "_shipped" / name
    return packaged if packaged.is_dir() else package.parent / name


WEIGHTS_DIR = shipped_folder("weights")
# What ``translate(image)`` and ``img2img translate in.png -o out.png`` use when no model is
# named: the shipped pix2pix model that turns facade label maps into photos.
DEFAULT_MODEL = "facades-label2photo"
# Where the user's models are looked for by default: training's usual --out parent.
RUNS_DIR = Path("runs")
WEIGHTS_SUFFIX = ".safetensors"


def is_model_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / GENERATOR_FILE).is_file()


def pair_config(weights: Path) -> Path | None:
    """The config of a ``.safetensors`` file: ``X.json`` beside ``X.safetensors``, else the
    ``config.json`` of the model directory it lies in; None when it has neither."""
    for config in (weights.with_suffix(".json"), weights.parent / CONFIG_FILE):
        if config.is_file():
            return config
    return None


def is_model_pair(path: Path) -> bool:
    return path.suffix == WEIGHTS_SUFFIX and path.is_file() and pair_config(path) is not None


def resolve_model(model: str | Path) -> Path:
    """The model directory or ``.safetensors`` file that ``model`` names (see the module
    docstring); a Hub model is fetched into the Hub's cache first and its folder there
    returned. An unknown name raises FileNotFoundError listing the models available."""
    hub = parse_hub_name(str(model))
    if hub is not None:
        return download_model(hub)
    path = Path(model)
    if is_model_dir(path) or is_model_pair(path):
        return path
    if path.suffix == WEIGHTS_SUFFIX and path.is_file():
        raise FileNotFoundError(
            f"{path}: weights without a config; put the model's config beside it as "
            f"{path.with_suffix('.json').name} (the config.json its training wrote)"
        )
    shipped = WEIGHTS_DIR / str(model)
    if is_model_dir(shipped):
        return shipped
    hub = _bare_hub_name(str(model))
    if hub is not None:
        try:
            return download_model(hub)
        except HubModelUnavailable as err:
            raise HubModelUnavailable(
                f"{model}: no such local or shipped model; as a Hub model, {err}"
            ) from None
    shipped_names = [path.name for path in model_paths(WEIGHTS_DIR)]
    available = ", ".join(shipped_names + [str(path) for path in model_paths(RUNS_DIR)]) or "none"
    raise FileNotFoundError(
        f"{model}: not a model directory ({CONFIG_FILE} + {GENERATOR_FILE}), a "
        f"{WEIGHTS_SUFFIX} file with its .json config, a shipped model nor a Hub model "
        f"({HUB_SCHEME}ORG/NAME); available models: {available}"
    )


def _bare_hub_name(model: str) -> HubName | None:
    """The Hub model ``org/name`` names, when nothing on disk could be meant: the path does
    not exist and its first part is not a folder here (``runs/typo`` is a mistyped run;
    ``./x/y`` and absolute paths are never Hub names)."""
    path = Path(model)
    if path.exists() or Path(path.parts[0]).is_dir():
        return None
    return parse_hub_name(model, bare=True)


def weights_path(path: Path) -> Path:
    """The raw weights file of a resolved model (to key a cache on its modification time)."""
    return path / GENERATOR_FILE if path.is_dir() else path


def config_file(path: Path) -> Path:
    """The config file of a resolved model (a directory's ``config.json``, a weights file's
    ``X.json``)."""
    return path / CONFIG_FILE if path.is_dir() else pair_config(path)


def read_config(path: Path) -> dict[str, Any]:
    """The options of a resolved model as one flat dict, whatever the layout of its file
    (:func:`img2img.config.saved_options`); a file that is not a JSON object naming its task
    raises ValueError naming the file."""
    config_path = config_file(path)
    try:
        values = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{config_path}: not a readable JSON model config ({err})") from None
    if isinstance(values, dict):
        values = saved_options(values, config_path)
    if not isinstance(values, dict) or not isinstance(values.get("task"), str):
        raise ValueError(f'{config_path}: a model config needs a "task" field (e.g. "pix2pix")')
    return values


def read_model(model: str | Path, use_ema: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config dict, generator state dict on the CPU) of any model :func:`resolve_model`
    accepts. A directory's EMA weights are used when it has them and ``use_ema`` is true; a
    ``.safetensors`` file is exactly the weights it names."""
    path = resolve_model(model)
    values = read_config(path)
    try:
        weights = load_model_files(path, use_ema)[1] if path.is_dir() else load_file(path)
    except SafetensorError as err:
        raise ValueError(f"{path}: unreadable weights, not a safetensors file ({err})") from None
    return values, weights


def model_paths(folder: Path) -> list[Path]:
    """The models in ``folder``, one level deep, sorted by name: model directories and
    ``X.safetensors`` + ``X.json`` pairs; [] when ``folder`` does not exist."""
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if is_model_dir(p) or is_model_pair(p)]
