"""Checkpoints that never lose work and never unpickle code.

A *model* is a directory holding ``config.json`` (the resolved task config, enough to
rebuild the network) and ``generator.safetensors`` (the weights ``translate`` runs). A
*resumable run* adds ``trainer_state.pt``: optimizers, LR schedules, discriminators, the
step counter and every RNG state, loaded with ``torch.load(weights_only=True)``.

Every file is written to a temporary name in the same directory, flushed to disk and then
renamed over the old one (``os.replace`` is atomic on POSIX and Windows), so a crash or
Ctrl-C during a save leaves the previous checkpoint intact. The finished file gets the
permissions any file the user creates gets (0666 less the umask), not the private 0600 of
a temporary file: a model is meant to be shared.

A run directory is never trained into twice by accident: :func:`prepare_run_directory`
refuses a non-empty one unless the run resumes it or the user asked to overwrite it, and
overwriting moves the old run aside rather than deleting it. A new run that fails before
its first checkpoint leaves no trace: :class:`RunDirectoryClaim` removes what it wrote and
puts a run it moved aside back.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from img2img.config import TrainConfig, saved_config, saved_options

CONFIG_FILE = "config.json"
GENERATOR_FILE = "generator.safetensors"
EMA_FILE = "generator_ema.safetensors"
STATE_FILE = "trainer_state.pt"
# A model's card: the record of how it was made and measured, and the Hub's README.md made
# from it (img2img.model_cards).
MODEL_CARD_FILE = "model_card.json"
HUB_CARD_FILE = "README.md"
# Version of the training-state layout; bump it when a change makes old states unreadable.
FORMAT_VERSION = 1


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and move the finished file to ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask. Linux shows it in /proc (a read that changes nothing); elsewhere
    it is read by setting it and putting it straight back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class RunDirectoryNotEmpty(ValueError):
    """A new run was asked to write into a directory holding another run's files."""


def prepare_run_directory(directory: str | Path, resume: bool, overwrite: bool) -> Path | None:
    """Make ``directory`` safe for a new run: a resumed run, an absent or empty directory
    pass as they are; with ``overwrite`` a non-empty one is renamed to
    ``DIR.old-YYYYmmdd-HHMMSS`` (returned; never deleted); otherwise it is refused with
    :class:`RunDirectoryNotEmpty`, so a second run never mixes its model and log with the
    first one's."""
    directory = Path(directory)
    if resume or not directory.is_dir():
        return None
    leftovers = [p for p in directory.iterdir() if not p.name.endswith(".tmp")]
    if not leftovers:
        return None
    if not overwrite:
        shown = ", ".join(sorted(p.name for p in leftovers)[:4])
        more = " ..." if len(leftovers) > 4 else ""
        raise RunDirectoryNotEmpty(
            f"{directory}: already holds a run ({shown}{more}); continue it with "
            f"--resume {directory}, move it aside and start afresh with --overwrite, or "
            "choose another --out"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory.with_name(f"{directory.name}.old-{stamp}")
    for number in itertools.count(1):
        if not aside.exists():
            break
        aside = directory.with_name(f"{directory.name}.old-{stamp}-{number}")
    os.replace(directory, aside)
    return aside


@dataclass
class RunDirectoryClaim:
    """A run's hold on its directory (:func:`claim_run_directory`), which a new run that
    fails before its first checkpoint gives back with :meth:`undo`."""

    directory: Path
    resume: bool
    existed: bool  # before this run: an empty directory the user made, or a run
    aside: Path | None  # where --overwrite moved the old run

    def undo(self) -> None:
        """Leave the directory as it was before this run started: a new run's files are
        removed (the whole directory, unless the user had made it, empty), a run moved aside
        comes back. A resumed run wrote into a run of its own; nothing is undone there."""
        if self.resume:
            return
        if self.directory.is_dir():
            if self.existed and self.aside is None:
                for entry in self.directory.iterdir():
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            else:
                shutil.rmtree(self.directory)
        if self.aside is not None:
            os.replace(self.aside, self.directory)


def claim_run_directory(directory: str | Path, resume: bool, overwrite: bool) -> RunDirectoryClaim:
    """:func:`prepare_run_directory`, remembering what it found so that the claim can be
    undone."""
    directory = Path(directory)
    existed = directory.exists()
    aside = prepare_run_directory(directory, resume, overwrite)
    return RunDirectoryClaim(directory, resume, existed, aside)


def remove_stale_temp_files(directory: str | Path) -> None:
    """Delete temporary files left by a write that was killed (SIGKILL, power loss) before
    its rename; the files they were meant to replace are intact."""
    for path in Path(directory).glob(".*.tmp"):
        path.unlink(missing_ok=True)


def nonfinite_tensors(tree: Any, prefix: str = "") -> list[str]:
    """Dotted names of the floating-point tensors in a nested state (dicts, lists, tuples)
    holding NaN or infinity: what must never be written as a checkpoint."""
    if isinstance(tree, torch.Tensor):
        bad = tree.is_floating_point() and not bool(torch.isfinite(tree).all())
        return [prefix] if bad else []
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return []
    return [
        name
        for key, value in items
        for name in nonfinite_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    ]


def save_weights(path: Path, module: nn.Module) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def save_model(
    directory: str | Path,
    config: TrainConfig | Mapping[str, Any],
    generator: nn.Module,
    ema: nn.Module | None = None,
) -> None:
    """Write ``config.json``, ``generator.safetensors`` and, when given, the EMA weights
    ``generator_ema.safetensors`` into ``directory``. A task config is written in the
    current layout (:func:`img2img.config.saved_config`: version, generator class, the
    model's options apart from the run's); a mapping is written as it is."""
    directory = Path(directory)
    save_weights(directory / GENERATOR_FILE, generator)
    if ema is not None:
        save_weights(directory / EMA_FILE, ema)
    if isinstance(config, TrainConfig):
        config = saved_config(config, module_class(generator))
    text = json.dumps(config, indent=2, sort_keys=True)
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))


def module_class(module: nn.Module) -> str | dict[str, Any]:
    """The qualified class name of a network (of the module ``torch.compile`` wraps); for
    an ``nn.ModuleDict`` (a two-way model's networks) each network's, by name."""
    module = getattr(module, "_orig_mod", module)
    if isinstance(module, nn.ModuleDict):
        return {name: module_class(network) for name, network in module.items()}
    kind = type(module)
    return f"{kind.__module__}.{kind.__qualname__}"


def load_model_files(
    directory: str | Path, use_ema: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a model directory: (its options as one flat dict, generator state dict on CPU).
    The EMA weights are returned when they exist and ``use_ema`` is true, else the raw
    weights."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / GENERATOR_FILE
    if use_ema and (directory / EMA_FILE).is_file():
        weights_path = directory / EMA_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; a model directory holds {CONFIG_FILE} and {GENERATOR_FILE} "
                "(written by `img2img train` at each checkpoint)"
            )
    return saved_options(json.loads(config_path.read_text()), config_path), load_file(weights_path)


def state_paths(directory: str | Path, keep: int) -> list[Path]:
    """The training-state files, newest first: ``trainer_state.pt``, ``trainer_state.1.pt``..."""
    directory = Path(directory)
    stem, suffix = STATE_FILE.rsplit(".", 1)
    return [directory / STATE_FILE] + [directory / f"{stem}.{i}.{suffix}" for i in range(1, keep)]


def save_training_state(directory: str | Path, state: dict[str, Any], keep: int = 2) -> None:
    """Write the resumable training state (tensors and plain Python values only), keeping
    the ``keep`` most recent states: older ones shift down one place before the new one is
    written, so a crash at any moment leaves at least one complete state on disk."""
    paths = state_paths(directory, max(keep, 1))
    for newer, older in reversed(list(itertools.pairwise(paths))):
        if newer.exists():
            os.replace(newer, older)
    atomic_write(paths[0], lambda tmp: torch.save(state, tmp))


def has_training_state(directory: str | Path) -> bool:
    return any(_existing_states(directory))


def _existing_states(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    stem, suffix = STATE_FILE.rsplit(".", 1)
    older = sorted(directory.glob(f"{stem}.*.{suffix}"), key=lambda p: int(p.name.split(".")[1]))
    latest = directory / STATE_FILE
    return ([latest] if latest.is_file() else []) + [p for p in older if p.is_file()]


def load_training_state(directory: str | Path) -> dict[str, Any]:
    """Load the newest readable training state; an unreadable newer one (truncated by a
    crash, corrupted on disk) is skipped with a warning that names it."""
    paths = _existing_states(directory)
    if not paths:
        raise FileNotFoundError(f"{Path(directory) / STATE_FILE}: no training state to resume from")
    for path in paths:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unreadable file: truncated zip, bad pickle, I/O error
            warnings.warn(
                f"{path}: cannot be read ({type(err).__name__}: {err}); "
                "falling back to the previous checkpoint",
                stacklevel=2,
            )
    raise RuntimeError(f"{directory}: no readable training state among {[p.name for p in paths]}")


def check_format(state: dict[str, Any], directory: str | Path) -> None:
    version = int(state.get("format", 1))
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{directory}: checkpoint format {version} is newer than this img2img reads "
            f"({FORMAT_VERSION}); upgrade img2img to resume it"
        )


def capture_rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from, in a form ``weights_only`` loading accepts
    (numpy's state becomes a tensor and plain ints)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
