"""Models on the Hugging Face Hub: their names, and their download into the Hub's cache.

A Hub model is a model repository holding a model directory's files: ``config.json``,
``generator.safetensors`` (and ``generator_ema.safetensors`` when it has EMA weights), and
its card, ``model_card.json`` and the Hub's ``README.md`` (what ``img2img push`` uploads).
It is named

- ``hf://org/name`` or ``hf://org/name@revision`` wherever a model is taken;
- ``org/name`` (or ``org/name@revision``) as well, when nothing on disk has that name:
  local paths and shipped names win (:func:`img2img.saved_models.resolve_model` decides).

``revision`` is a branch, a tag or a commit hash (default: ``main``). The files go to
huggingface_hub's cache (``HF_HOME``, ``HF_HUB_CACHE``) once per commit; with
``HF_HUB_OFFLINE=1`` only the cache is read. ``HF_ENDPOINT`` names another Hub (a mirror,
a private Hub) and ``HF_TOKEN`` (or ``hf auth login``) opens private repositories: all read
by huggingface_hub itself. It is imported only when a Hub model is fetched, so ``import
img2img`` stays light.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from img2img.checkpoint import (
    CONFIG_FILE,
    EMA_FILE,
    GENERATOR_FILE,
    HUB_CARD_FILE,
    MODEL_CARD_FILE,
)
from img2img.version import __version__

HUB_SCHEME = "hf://"
# The files a model needs (and its card); anything else in a repository (training state
# pushed with --with-state, a user's extras) is not downloaded to run it.
MODEL_FILES = (CONFIG_FILE, GENERATOR_FILE, EMA_FILE, MODEL_CARD_FILE, HUB_CARD_FILE)
_NAME = re.compile(
    r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<revision>.+))?"
)


class HubModelUnavailable(FileNotFoundError):
    """A Hub model that cannot be had: no such repository or revision, not an img2img
    model, or not in the cache while the Hub cannot (or may not) be reached. The message
    says which, and what to do."""


@dataclass(frozen=True)
class HubName:
    """A model repository on the Hub and the revision to take (None: ``main``)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{HUB_SCHEME}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def parse_hub_name(model: str, bare: bool = False) -> HubName | None:
    """The :class:`HubName` that ``model`` spells: ``hf://org/name[@revision]``, and with
    ``bare`` also ``org/name[@revision]``; None for anything else. An ``hf://`` name that
    is not ``org/name`` raises ValueError."""
    scheme = model.startswith(HUB_SCHEME)
    if not (scheme or bare):
        return None
    match = _NAME.fullmatch(model[len(HUB_SCHEME) :] if scheme else model)
    if match is None:
        if scheme:
            raise ValueError(
                f"{model}: a Hub model is named hf://ORG/NAME or hf://ORG/NAME@REVISION"
            )
        return None
    return HubName(match["repo"], match["revision"])


def is_hub_snapshot(path: Path) -> bool:
    """Whether ``path`` is a model folder in the Hub's cache (``models--org--name/
    snapshots/COMMIT``): someone else's files, which img2img never writes into."""
    return path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--")


def download_model(name: HubName) -> Path:
    """The folder, in the Hub's cache, holding the files of the model ``name`` names at its
    revision: downloaded if the cache lacks them, else read from the cache (the only place
    looked at under ``HF_HUB_OFFLINE=1``). Raises :class:`HubModelUnavailable` saying what
    went wrong and what to do."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        folder = Path(
            snapshot_download(
                name.repo_id,
                revision=name.revision,
                allow_patterns=list(MODEL_FILES),
                library_name="img2img",
                library_version=__version__,
            )
        )
    except RevisionNotFoundError:
        raise HubModelUnavailable(
            f"{name}: {name.repo_id} has no revision {name.revision!r} (a branch, tag or "
            "commit hash)"
        ) from None
    except RepositoryNotFoundError:
        raise HubModelUnavailable(
            f"{name}: no model repository {name.repo_id} on {constants.ENDPOINT} (a private "
            "or gated one needs a token: `hf auth login`, or HF_TOKEN)"
        ) from None
    except LocalEntryNotFoundError as err:
        if constants.HF_HUB_OFFLINE:
            raise HubModelUnavailable(
                f"{name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}), and "
                "HF_HUB_OFFLINE=1 forbids downloading it; fetch it once with the network "
                "(unset HF_HUB_OFFLINE)"
            ) from None
        raise HubModelUnavailable(
            f"{name}: cannot reach {constants.ENDPOINT}, and the model is not in the Hugging "
            f"Face cache ({constants.HF_HUB_CACHE}): {_first_line(err)}"
        ) from None
    except HfHubHTTPError as err:
        raise HubModelUnavailable(
            f"{name}: {constants.ENDPOINT} refused the download: {_first_line(err)}"
        ) from None
    missing = [file for file in (CONFIG_FILE, GENERATOR_FILE) if not (folder / file).is_file()]
    if missing:
        raise HubModelUnavailable(
            f"{name}: not an img2img model: the repository has no {' or '.join(missing)} "
            "(`img2img push` uploads a model's files)"
        )
    return folder


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
