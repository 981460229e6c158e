"""Evaluation protocols: how ``img2img eval`` and ``--val-every`` measure a task's models.

A recipe names its protocol when it registers (``register_task(..., evaluation="aligned")``);
each protocol is a class registered here by the module that implements it, and carries what
generic code needs:

- ``evaluate(request)``: the measurement (:class:`EvalRequest` holds the loaded model and
  everything ``img2img eval`` was asked), returning an :class:`~.reports.Evaluation`;
- ``options``: the protocol's own arguments of :func:`img2img.metrics.evaluate.evaluate`
  (``--baseline`` for inpainting, ``--lr-data`` for super-resolution, ...); one given to a
  protocol that does not read it is refused, naming the protocol;
- ``validation``: the metrics ``--val-every`` asks for (``validation_metrics(config)`` may
  add ones that fit the run's data), ``decides`` the value that ranks models
  (``deciding_value``), and ``higher_is_better``; a protocol with no validation metrics
  makes ``--val-every`` an error at the start of training;
- ``extra_metrics``: metrics beyond the common ones it measures when asked (``samples``:
  ``digits`` and ``modes``); asking another protocol for them is an error.

The built-in protocols: aligned, unaligned, autoencoder (:mod:`.evaluate`), two-way and
samples (:mod:`.unpaired`), super-resolution (:mod:`.sr`), inpainting (:mod:`.inpainting`).
Other packages add theirs through the ``img2img.evaluations`` entry-point group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from img2img.registry import Registry

EVALUATIONS: Registry[type[EvaluationProtocol]] = Registry(
    "evaluation protocol",
    "img2img.evaluations",
    builtins=(
        "img2img.metrics.evaluate",
        "img2img.metrics.unpaired",
        "img2img.metrics.sr",
        "img2img.metrics.inpainting",
    ),
)


def as_rgb(images: Tensor) -> Tensor:
    """(N, 1 or 3, H, W) -> (N, 3, H, W): Inception sees grey images as three equal channels."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def batches(images: Iterable[Tensor], size: int) -> Iterator[Tensor]:
    """Stack single images (C, H, W) of one size into (size, 3, H, W) batches."""
    batch: list[Tensor] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield as_rgb(torch.stack(batch))
            batch = []
    if batch:
        yield as_rgb(torch.stack(batch))


@dataclass
class Setup:
    """How :func:`img2img.metrics.evaluate.evaluate` was asked to measure (its arguments)."""

    device: str
    batch_size: int
    inception: str | Path | None
    use_cache: bool
    progress: bool
    samples: int

    def extractor(self, metrics: list[str], unavailable: dict[str, str]) -> Any:
        """The Inception feature extractor when FID or KID is wanted and available; else
        None, with the reason recorded in ``unavailable``."""
        from img2img.metrics.inception_features import InceptionFeatures

        wanted = [name for name in ("fid", "kid") if name in metrics]
        if not wanted:
            return None
        try:
            return InceptionFeatures(self.inception, self.device)
        except (FileNotFoundError, ValueError) as reason:
            unavailable.update(dict.fromkeys(wanted, str(reason)))
            return None

    def real_features(
        self,
        extractor: Any,
        files: list[Path],
        images: Callable[[], Iterable[Tensor]],
        count: int,
        variant: dict[str, Any],
    ) -> np.ndarray:
        """Features of the ``count`` real images ``images()`` yields, cached under ``files``
        (the files they are read from) and ``variant`` (how they are read)."""
        from img2img.metrics.inception_features import cached_features

        def compute() -> np.ndarray:
            chunks = batches(images(), self.batch_size)
            return extractor.extract(chunks, count, self.progress, f"real {variant['images']}")

        key = json.dumps(variant, sort_keys=True)
        return cached_features(files, extractor, compute, key, self.use_cache, count)

    def fake_features(self, extractor: Any, images: Tensor, desc: str) -> np.ndarray:
        chunks = batches(images, self.batch_size)
        return extractor.extract(chunks, len(images), self.progress, desc)


@dataclass
class EvalRequest:
    """One evaluation: the model at ``path`` loaded once (``generator`` in eval mode on
    ``device``, its ``config``), the data, the metrics and how to measure them (``setup``),
    the engine the model runs on, the protocol's own ``options`` (those it declares, with
    their defaults filled in) and the clock's ``start``."""

    path: Path
    generator: nn.Module
    config: Any
    data: str | Path
    metrics: list[str]
    setup: Setup
    device: torch.device
    engine: str
    start: float
    options: dict[str, Any] = field(default_factory=dict)

    def translator(self, direction: str | None = None) -> Any:
        """The model as ``translate`` runs it (one direction of a two-way model)."""
        from img2img.infer import Translator, select_direction

        network = select_direction(self.generator, self.config, direction)
        return Translator(network, self.config, self.device, engine=self.engine)


class EvaluationProtocol:
    """A way of measuring models (see the module docstring); subclasses are registered in
    :data:`EVALUATIONS` and used as classes."""

    name: ClassVar[str] = ""
    # evaluate()'s protocol-specific arguments this protocol reads, with their defaults.
    options: ClassVar[dict[str, Any]] = {}
    # --val-every: the metrics asked for, the value ranking models, and its direction.
    validation: ClassVar[tuple[str, ...]] = ()
    decides: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    # Metrics beyond reports.METRICS this protocol measures when asked (digits, modes).
    extra_metrics: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def validation_metrics(cls, config: Any) -> tuple[str, ...]:
        """The metrics ``--val-every`` asks for in a run of ``config`` (by default
        ``validation``; a protocol may add ones that fit the run's data)."""
        return cls.validation

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Any:
        raise NotImplementedError

    @classmethod
    def check_data(cls, task: Any, config: Any) -> None:
        """Raise ValueError, saying what to provide, when ``config.data`` cannot be measured
        by this protocol (checked when training with ``--val-every`` starts, not at the
        first validation): by default it needs a held-out split."""
        if task.dataset(config, "test") is None:
            raise ValueError(
                f"{config.data}: --val-every measures the test split, and there is none; put "
                "held-out images in its test/ folder (testA/ and testB/ for unpaired data; "
                "with --lr-data, the LR folders need one too)"
            )

    @classmethod
    def format_table(cls, summary: dict[str, Any]) -> str | None:
        """The text table of this protocol's summaries (None: the generic one)."""
        return None


def register_protocol(name: str) -> Callable[[type[EvaluationProtocol]], type[EvaluationProtocol]]:
    """Class decorator: register an :class:`EvaluationProtocol` subclass as ``name``; its
    ``decides``, unless the class itself sets it, is its first validation metric."""

    def register(cls: type[EvaluationProtocol]) -> type[EvaluationProtocol]:
        cls.name = name
        cls.decides = cls.__dict__.get("decides") or (cls.validation[0] if cls.validation else "")
        return EVALUATIONS.register(name, cls)

    return register


def get_protocol(name: str) -> type[EvaluationProtocol]:
    """The protocol registered as ``name``; an unknown name lists the valid ones."""
    return EVALUATIONS[name]
