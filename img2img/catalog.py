"""The models on this machine, with what they do: shipped ones and the user's runs.

:func:`list_models` and :func:`describe_model` read configs and model cards (JSON) only, so
listing models builds no network; a model's task class says which directions it translates.
Finding and reading model files is :mod:`img2img.saved_models`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img.hub_models import is_hub_snapshot
from img2img.saved_models import (
    MODEL_CARD_FILE,
    RUNS_DIR,
    WEIGHTS_DIR,
    model_paths,
    read_config,
    resolve_model,
)
from img2img.tasks import TASKS


@dataclass(frozen=True)
class ModelInfo:
    """One model :func:`list_models` found. ``name`` is what ``translate(model=...)``,
    ``load`` and ``img2img demo --model`` accept: the bare name of a shipped model, the name
    a Hub model was given (``hf://org/name``), else the path. ``directions`` names the
    networks of a two-way model (CycleGAN: ``("AtoB", "BtoA")``, for ``direction=``) and is
    empty for one-way models. ``summary`` is the model card's one-line description ("" without
    a card)."""

    name: str
    path: Path
    task: str
    directions: tuple[str, ...] = ()
    shipped: bool = False
    summary: str = ""


def list_models(runs: str | Path | None = RUNS_DIR) -> list[ModelInfo]:
    """The shipped models (``weights/``), then the user's models in ``runs`` (default
    ``runs/`` under the current directory; None for shipped models only): its model
    directories and ``X.safetensors`` + ``X.json`` pairs, one level deep, sorted by name.
    A model whose config cannot be read is skipped with a warning naming it."""
    folders = [(WEIGHTS_DIR, True)]
    if runs is not None and Path(runs).resolve() != WEIGHTS_DIR.resolve():
        folders.append((Path(runs), False))
    found = []
    for folder, shipped in folders:
        for path in model_paths(folder):
            try:
                found.append(_info(path, shipped))
            except ValueError as err:
                warnings.warn(f"skipping model {path}: {err}", stacklevel=2)
    return found


def describe_model(model: str | Path) -> ModelInfo:
    """The :class:`ModelInfo` of one model, named as :func:`resolve_model` accepts."""
    path = resolve_model(model)
    shipped = path.parent.resolve() == WEIGHTS_DIR.resolve()
    # A Hub model keeps the name it was given, not its folder in the Hub's cache.
    return _info(path, shipped, str(model) if is_hub_snapshot(path) else None)


def _info(path: Path, shipped: bool, name: str | None = None) -> ModelInfo:
    task = read_config(path)["task"]
    card = path / MODEL_CARD_FILE
    summary = _read_card(card).get("summary", "") if card.is_file() else ""
    return ModelInfo(
        name=name or (path.name if shipped else str(path)),
        path=path,
        task=task,
        directions=task_directions(task),
        shipped=shipped,
        summary=str(summary),
    )


def _read_card(card: Path) -> dict[str, Any]:
    try:
        values = json.loads(card.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return values if isinstance(values, dict) else {}


def task_directions(task: str) -> tuple[str, ...]:
    """Direction names of a two-way task's models (as it registered them); () for one-way
    tasks and for tasks this version does not know."""
    registered = TASKS.get(task)
    return registered.directions if registered is not None else ()
