"""Validation during training (``--val-every``) and generator snapshots (``--snapshot-every``).

GAN training does not converge to its best model: quality swings from one checkpoint to
the next, so the last weights are often not the ones to keep. Every ``--val-every``
iterations the current generator (its EMA when there is one, as ``translate`` would run
it) is written as a model and measured on the test split by ``img2img eval``'s own
protocol (:func:`img2img.metrics.evaluate.evaluate`), which names the metrics to ask for
and the value that ranks models (:mod:`img2img.metrics.protocols`):

- aligned translation (pix2pix), autoencoders and super-resolution: PSNR (and SSIM), higher
  is better (SR: on Y; trained on given LR images, ``--lr-data``, scored on the LR folder's
  test split); inpainting: the PSNR over the hole;
- CycleGAN and GANs from noise: FID (and KID), lower is better; a GAN draws ``--val-images``
  samples against as many real images, a fixed subset chosen by the seed; a CycleGAN
  translates the first ``--val-images`` test images of each domain. The real images'
  Inception features are cached on disk, so each validation computes only the fakes'.

The model is run by PyTorch, not exported to ONNX Runtime as ``img2img eval`` may do
(:mod:`img2img.engines`): each validation's weights are new, and an exported graph of each
would fill the graph cache with files the size of the model.

The values are logged (``val_<metric>`` lines in ``losses.jsonl``, ``val/<metric>`` in
TensorBoard/W&B), and the best model so far is kept in ``OUT/best/`` with ``val.json``
(step, metric, value). Validation saves and restores every RNG, so it changes nothing in
the training that follows and a resumed run stays exact.

``--snapshot-every N`` keeps the generator of every N-th iteration in
``OUT/snapshots/step_NNNNNNN/`` (a model directory each), the newest ``--keep-snapshots``
of them (0: all), for people who pick a model by eye.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from img2img.checkpoint import capture_rng_state, restore_rng_state, save_model
from img2img.config import TrainConfig
from img2img.data import resolve_split
from img2img.data.sr import split_folders
from img2img.metrics.protocols import EVALUATIONS, EvaluationProtocol, get_protocol
from img2img.tasks import get_task

BEST_DIR = "best"
VAL_FILE = "val.json"
SNAPSHOT_DIR = "snapshots"


def validation_protocol(config: Any) -> type[EvaluationProtocol]:
    """The protocol ``--val-every`` measures ``config``'s task by, once it has checked that
    the run's data can be measured (:meth:`EvaluationProtocol.check_data`: a test split,
    images); a protocol with no validation metrics is refused, naming the option."""
    task = get_task(config.task)
    if task.evaluation not in EVALUATIONS:
        raise ValueError(
            f"--val-every: --task {config.task} has no evaluation protocol "
            f"({task.evaluation!r} is not one of {', '.join(EVALUATIONS)}); train without "
            "--val-every"
        )
    protocol = get_protocol(task.evaluation)
    if not protocol.validation:
        raise ValueError(
            f"--val-every: the {protocol.name} protocol of --task {config.task} names no "
            "validation metric; train without --val-every"
        )
    protocol.check_data(task, replace(config, data=held_out_folders(config)[0]))
    return protocol


def held_out_folders(config: Any) -> tuple[str, str | None]:
    """The dataset validation reads: ``--data`` itself, or of several comma-joined folders
    (SR's ``--data T91,BSD200``) the first with a test split; and for SR trained on given
    LR images (``--lr-data``), the LR folder at the same place in its list (else None)."""
    folders = split_folders(config.data)
    chosen = next((f for f in folders if resolve_split(f, "test") is not None), folders[0])
    lr_data = getattr(config, "lr_data", "")
    return chosen, split_folders(lr_data)[folders.index(chosen)] if lr_data else None


def flat_metrics(measured: dict[str, Any]) -> dict[str, float]:
    """``{"psnr": 21.0, "kid": {"mean": m, "std": s}}`` -> ``{"psnr": 21.0, "kid": m}``."""
    return {
        name: float(value["mean"] if isinstance(value, dict) else value)
        for name, value in measured.items()
    }


def deciding_value(values: dict[str, float], metric: str) -> float | None:
    """The value that ranks models: ``metric`` itself, or the mean of its variants
    (CycleGAN's ``fid_AtoB`` and ``fid_BtoA``); None when it could not be measured."""
    if metric in values:
        return values[metric]
    variants = [value for name, value in values.items() if name.startswith(f"{metric}_")]
    return sum(variants) / len(variants) if variants else None


class Validator:
    """Measures the generator of the run in ``out`` and keeps ``out/best``."""

    def __init__(self, config: Any, out: Path) -> None:
        self.config = config
        self.out = Path(out)
        self.data, lr_data = held_out_folders(config)
        self.protocol = validation_protocol(config)
        self.metrics = list(self.protocol.validation_metrics(config))
        self.metric, self.higher_is_better = self.protocol.decides, self.protocol.higher_is_better
        run = {"generate": config.val_images, "real_count": config.val_images}
        run.update(seed=config.seed, lr_data=lr_data)
        self.options = {k: v for k, v in run.items() if k in self.protocol.options}
        self.best = self._saved_best()
        self.warned = False

    def _saved_best(self) -> float | None:
        """The best value of a run being resumed (None for a new run)."""
        path = self.out / BEST_DIR / VAL_FILE
        return float(json.loads(path.read_text())["value"]) if path.is_file() else None

    def better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.higher_is_better else value < self.best

    def __call__(
        self, step: int, generator: nn.Module, ema: nn.Module | None
    ) -> tuple[dict[str, float], str | None]:
        """Measure the generator at ``step``: (metrics, a warning when the deciding metric
        could not be measured, once per run, else None). Keeps ``best/`` up to date."""
        from img2img.metrics.evaluate import evaluate

        candidate = self.out / ".val-model"
        shutil.rmtree(candidate, ignore_errors=True)
        save_model(candidate, self.config, generator, ema=ema)
        rng = capture_rng_state()
        try:
            evaluation = evaluate(
                candidate,
                self.data,
                self.metrics,
                device=self.config.device,
                batch_size=max(self.config.batch_size, 16),
                progress=False,
                engine="torch",
                **self.options,
            )
        finally:
            restore_rng_state(rng)
        values = flat_metrics(evaluation.summary["metrics"])
        value = deciding_value(values, self.metric)
        if value is None:
            shutil.rmtree(candidate, ignore_errors=True)
            reason = evaluation.summary.get("unavailable", {}).get(self.metric, "not measured")
            warning = None if self.warned else f"no {self.metric} to keep best/ by: {reason}"
            self.warned = True
            return values, warning
        if self.better(value):
            self.best = value
            record = {"step": step, "metric": self.metric, "value": value, "metrics": values}
            (candidate / VAL_FILE).write_text(json.dumps(record, indent=2))
            replace_directory(candidate, self.out / BEST_DIR)
        else:
            shutil.rmtree(candidate, ignore_errors=True)
        return values, None


def replace_directory(new: Path, target: Path) -> None:
    """Put directory ``new`` in the place of ``target``: two renames, so at any moment one
    complete model is at ``target`` or at ``target`` + ``.old``."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def save_snapshot(
    out: Path,
    config: TrainConfig,
    step: int,
    generator: nn.Module,
    ema: nn.Module | None,
    keep: int,
) -> Path:
    """Write the generator at ``step`` to ``out/snapshots/step_NNNNNNN`` and delete all
    but the newest ``keep`` snapshots (0: keep them all)."""
    folder = Path(out) / SNAPSHOT_DIR
    path = folder / f"step_{step:07d}"
    save_model(path, config, generator, ema=ema)
    snapshots = sorted(p for p in folder.glob("step_*") if p.is_dir())
    for old in snapshots[:-keep] if keep else []:
        shutil.rmtree(old)
    return path
