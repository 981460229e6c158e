"""``img2img push``: publish a model on the Hugging Face Hub.

What is uploaded is what :mod:`img2img.hub_models` downloads, under the names a model
directory uses whatever form the model had here: ``config.json`` (as saved), the generator's
weights ``generator.safetensors`` and, when the model has them, its EMA weights
``generator_ema.safetensors`` (loading prefers them, as it does here), its record
``model_card.json`` and the Hub card ``README.md`` made from that record
(:mod:`img2img.model_cards`). The training state (optimizers, discriminators, RNG states:
large, and not needed to run the model) goes only with ``with_state``. Everything is one
commit, so a repository never holds half a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img.checkpoint import (
    CONFIG_FILE,
    EMA_FILE,
    GENERATOR_FILE,
    HUB_CARD_FILE,
    MODEL_CARD_FILE,
    STATE_FILE,
)
from img2img.hub_models import HubName, parse_hub_name
from img2img.model_cards import hub_card, read_record, run_record
from img2img.saved_models import config_file, is_model_dir, resolve_model


class PushRefused(ValueError):
    """A push that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Pushed:
    """A finished push: the repository's address, the revision and the files committed."""

    url: str
    revision: str
    files: tuple[str, ...]


def upload_plan(model: str | Path, repo_id: str, with_state: bool = False) -> dict[str, Any]:
    """The files a push of ``model`` to ``repo_id`` commits: name in the repository ->
    local path, or bytes for the card made here. Refuses (:class:`PushRefused`) a run
    directory that has saved no model yet, and ``with_state`` for a model without a
    training state."""
    folder = Path(model)
    if folder.is_dir() and not is_model_dir(folder):
        raise PushRefused(
            f"{folder}: no saved model here ({CONFIG_FILE} + {GENERATOR_FILE}); a run writes "
            "them at each checkpoint (--save-every) and when it ends or is stopped with Ctrl-C"
        )
    path = resolve_model(model)
    files: dict[str, Any] = {CONFIG_FILE: config_file(path)}
    if path.is_dir():
        files[GENERATOR_FILE] = path / GENERATOR_FILE
        if (path / EMA_FILE).is_file():
            files[EMA_FILE] = path / EMA_FILE
    else:  # X.safetensors (+ X.json): the weights it names are the model's generator
        files[GENERATOR_FILE] = path
    if with_state:
        state = path / STATE_FILE if path.is_dir() else None
        if state is None or not state.is_file():
            raise PushRefused(
                f"{model}: --with-state, but there is no training state ({STATE_FILE}) to "
                "upload: only a run directory has one"
            )
        files[STATE_FILE] = state
    if path.is_dir() and (path / MODEL_CARD_FILE).is_file():
        record, files[MODEL_CARD_FILE] = read_record(path), path / MODEL_CARD_FILE
    else:
        record = run_record(path, repo_id.split("/")[-1])
        text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
        files[MODEL_CARD_FILE] = text.encode()
    files[HUB_CARD_FILE] = str(hub_card(record, repo_id)).encode()
    return files


def push_model(
    model: str | Path,
    repo: str,
    *,
    private: bool = False,
    revision: str | None = None,
    with_state: bool = False,
    api: Any = None,
) -> Pushed:
    """Upload ``model`` (anything :func:`img2img.saved_models.resolve_model` takes) to the
    Hub repository ``repo`` (``org/name``; ``hf://org/name`` is accepted), creating it
    (``private`` then applies) and, for ``revision``, the branch (from ``main``) when they
    do not exist. ``api`` is the ``huggingface_hub.HfApi`` to use (default: a new one, with
    the token of ``hf auth login`` or ``HF_TOKEN``)."""
    name = _repo_name(repo)
    files = upload_plan(model, name.repo_id, with_state)
    from huggingface_hub import CommitOperationAdd, HfApi

    api = api if api is not None else HfApi()
    url = api.create_repo(name.repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None:
        api.create_branch(name.repo_id, branch=revision, exist_ok=True, repo_type="model")
    api.create_commit(
        name.repo_id,
        [CommitOperationAdd(path_in_repo=n, path_or_fileobj=source) for n, source in files.items()],
        commit_message=f"Upload {Path(str(model)).name} with img2img push",
        revision=revision,
        repo_type="model",
    )
    return Pushed(str(url), revision or "main", tuple(files))


def _repo_name(repo: str) -> HubName:
    """``org/name`` (or ``hf://org/name``) as a :class:`HubName` without a revision (the
    branch is ``--revision``'s)."""
    name = parse_hub_name(repo, bare=True)
    if name is None or name.revision is not None:
        raise PushRefused(
            f"{repo}: name the repository as ORG/NAME (your user name or an organisation, "
            "then the model's name); the branch is --revision's"
        )
    return name
