"""Where a run's numbers and pictures go besides ``losses.jsonl`` (which is always written):
TensorBoard and Weights & Biases, chosen with ``--logger`` (repeatable).

- ``tensorboard``: event files in the run directory itself, written through
  ``torch.utils.tensorboard``, so ``tensorboard --logdir runs`` shows every run under
  ``runs/`` by its name. A resumed run purges the events past its checkpoint (they are
  about to be repeated), as ``losses.jsonl`` drops its lines.
- ``wandb``: a W&B run (``pip install wandb``) named after the run directory, with its
  files under ``OUT/wandb``; the W&B environment decides where it goes (``WANDB_MODE=offline``
  keeps everything local, to be synced later with ``wandb sync``). The run's id is kept in
  ``OUT/wandb-id.txt`` so a resumed run continues the same W&B run.

Each logger receives the same things: scalars (the window's mean losses, the task's
monitor metrics, every optimizer's learning rate, validation metrics), sample grids, and the
failure-mode warnings of :mod:`img2img.watch` as text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

LOGGERS = ("jsonl", "tensorboard", "wandb")
WANDB_ID_FILE = "wandb-id.txt"


def parse_loggers(text: str) -> list[str]:
    """``"tensorboard,wandb"`` -> ``["tensorboard", "wandb"]`` (jsonl is always on, so it
    is dropped); an unknown name is a ValueError listing the known ones."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise ValueError(f"--logger {','.join(unknown)}: choose from {', '.join(LOGGERS)}")
    return [name for name in dict.fromkeys(names) if name != "jsonl"]


class TensorBoardLogger:
    def __init__(self, out: Path, config: dict[str, Any], start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step hides the events of an interrupted run from the steps past its
        # checkpoint on (steps >= purge_step), which the resumed run repeats.
        self.writer = SummaryWriter(
            log_dir=str(out), purge_step=start_step + 1 if start_step else None
        )
        if not start_step:
            lines = "\n".join(f"    {key}: {value!r}" for key, value in config.items())
            self.writer.add_text("config", lines, 0)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def image(self, tag: str, pixels: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, pixels, step, dataformats="HWC")

    def text(self, tag: str, message: str, step: int) -> None:
        self.writer.add_text(tag, message, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, out: Path, config: dict[str, Any], start_step: int) -> None:
        try:
            import wandb
        except ImportError:
            raise ImportError(
                "--logger wandb needs the wandb package: pip install wandb "
                "(WANDB_MODE=offline logs without a network or an account)"
            ) from None
        self.wandb = wandb
        id_file = out / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if start_step and id_file.is_file() else None
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "img2img"),
            name=out.name,
            dir=str(out),
            config=config,
            id=run_id,
            resume="allow" if run_id else None,
        )
        id_file.write_text(self.run.id)

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def image(self, tag: str, pixels: np.ndarray, step: int) -> None:
        self.run.log({tag: self.wandb.Image(pixels)}, step=step)

    def text(self, tag: str, message: str, step: int) -> None:
        self.run.log({tag: self.wandb.Html(f"<p>{message}</p>")}, step=step)

    def flush(self) -> None:
        pass  # W&B sends in the background

    def close(self) -> None:
        self.run.finish()


LOGGER_CLASSES = {"tensorboard": TensorBoardLogger, "wandb": WandbLogger}


class RunLoggers:
    """The loggers ``names`` of a run in ``out``, started at ``start_step`` (a resumed
    run's step); ``enabled=False`` (a data-parallel process other than rank 0) logs nothing."""

    def __init__(
        self,
        names: list[str],
        out: Path,
        config: dict[str, Any],
        start_step: int = 0,
        enabled: bool = True,
    ) -> None:
        chosen = names if enabled else []
        self.loggers = [LOGGER_CLASSES[name](Path(out), config, start_step) for name in chosen]

    def scalars(self, values: dict[str, Any], step: int) -> None:
        """The numbers among ``values`` (bools and strings are left out)."""
        numbers = {
            name: float(value)
            for name, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        for logger in self.loggers:
            logger.scalars(numbers, step)

    def image_file(self, tag: str, path: Path, step: int) -> None:
        """An image written to ``path`` (a sample grid, the task's own plot)."""
        if not self.loggers or not Path(path).is_file():
            return
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        for logger in self.loggers:
            logger.image(tag, pixels, step)

    def text(self, tag: str, message: str, step: int) -> None:
        for logger in self.loggers:
            logger.text(tag, message, step)

    def flush(self) -> None:
        for logger in self.loggers:
            logger.flush()

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        self.loggers = []
