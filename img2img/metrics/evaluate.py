"""Evaluate a model on the test split of a dataset folder: ``img2img eval``.

:func:`evaluate` loads the model once and runs its task's protocol
(:mod:`img2img.metrics.protocols`). This module holds the translation protocols: the model
translates every test input (batch norm and padding exactly as ``translate`` does), each
output is rounded to 8 bits as a saved image would be, and then:

- paired metrics against the item's target (PSNR, SSIM, LPIPS), averaged over images, for
  tasks whose targets are aligned with their inputs (protocol ``aligned``; an ``unaligned``
  task gets only the distribution metrics);
- for an autoencoder (VQGAN, protocol ``autoencoder``), each test image is its own
  target (reconstruction PSNR/SSIM/LPIPS, rFID/KID), plus the usage and size of its codes
  (:mod:`.autoencoder`);
- FID and KID of all outputs against the target domain's real images of the same split
  (the dataset's targets, read at the model's image size). Their Inception features are
  cached like a real folder's (keyed by the files, sizes, mtimes, and how they are read),
  so evaluating another model on the same data reuses them.

A metric that cannot be computed here (LPIPS without trunk weights, FID without the
Inception network) is reported as unavailable with the reason, never skipped silently.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from img2img.backbones.lpips import lpips_or_reason
from img2img.devices import resolve_device
from img2img.images import quantize
from img2img.infer import Translator, load_generator
from img2img.metrics.autoencoder import code_report
from img2img.metrics.distances import distribution_metrics
from img2img.metrics.pixel import psnr, ssim
from img2img.metrics.protocols import (
    EVALUATIONS,
    EvalRequest,
    EvaluationProtocol,
    Setup,
    as_rgb,
    get_protocol,
    register_protocol,
)
from img2img.metrics.reports import DIGIT_METRICS, METRICS, PAIRED, Evaluation
from img2img.saved_models import resolve_model
from img2img.tasks import get_task


def parse_metrics(text: str) -> list[str]:
    """ "fid,kid" -> ["fid", "kid"]; an unknown name is an error listing the known ones
    (:data:`~.reports.METRICS` and the digit metrics, :data:`~.reports.DIGIT_METRICS`)."""
    known = METRICS + DIGIT_METRICS
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or text!r}; choose from {','.join(known)}")
    return names


def evaluate(
    model: str | Path,
    data: str | Path,
    metrics: list[str] | tuple[str, ...] = METRICS,
    *,
    device: str = "auto",
    batch_size: int = 16,
    inception: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = True,
    samples: int = 0,
    engine: str = "auto",
    **options: Any,
) -> Evaluation:
    """Measure ``model`` on the held-out split of ``data`` by its task's protocol.

    ``model``: anything :func:`img2img.saved_models.resolve_model` accepts. ``data``: a
    dataset folder of the model's task with a ``test/`` (or ``val/``) split. ``samples``: how
    many rows of images to keep for a report. ``engine`` runs the model under test ("auto",
    "torch" or "onnxruntime", :mod:`img2img.engines`), as ``translate`` and ``sample`` would
    run it, so a model is scored as it is served. The model is resolved, and its config and
    weights read, once.

    The model's task names its protocol (:mod:`img2img.metrics.protocols`), and
    ``options`` are the protocol's own: ``y_channel``, ``shave``, ``lpips_net``,
    ``lpips_weights`` (aligned translation: PSNR/SSIM on the luma with that many border pixels
    dropped, LPIPS's trunk), ``lr_data`` (super-resolution: LR test images instead of LR made
    by the protocol), ``baseline``, ``mask`` (inpainting: another model on the same holes,
    and the kind of hole), ``generate``, ``real_count``, ``seed`` (GAN samples and
    CycleGAN; see :mod:`.unpaired`). An option the protocol does not read is an error
    naming it, unless it has its default value.
    """
    start = time.perf_counter()
    metrics = list(dict.fromkeys(metrics))
    path = resolve_model(model)
    torch_device = resolve_device(device)
    generator, config = load_generator(path, device=torch_device)
    protocol = get_protocol(get_task(config.task).evaluation)
    unmeasured = [name for name in metrics if name not in METRICS + protocol.extra_metrics]
    if unmeasured:
        raise ValueError(
            f"--metrics {','.join(unmeasured)}: measured for models drawing digits from noise "
            f"(GANs trained on MNIST); {path} is a {config.task} model trained on "
            f"{getattr(config, 'data', '') or 'no recorded data'}"
        )
    request = EvalRequest(
        path=path,
        generator=generator,
        config=config,
        data=data,
        metrics=metrics,
        setup=Setup(device, batch_size, inception, use_cache, progress, samples),
        device=torch_device,
        engine=engine,
        start=start,
        options=protocol_options(protocol, options, f"{path} (a {config.task} model)"),
    )
    evaluation = protocol.evaluate(request)
    evaluation.summary["evaluation"] = protocol.name
    return evaluation


def protocol_options(
    protocol: type[EvaluationProtocol], given: dict[str, Any], what: str
) -> dict[str, Any]:
    """``protocol``'s options: its defaults updated with ``given``. A given option that the
    protocol does not read is refused unless it holds the default another protocol declares
    for it (a caller passing every option at its default); one no protocol reads is a
    TypeError."""
    defaults = {
        name: default for _, other in EVALUATIONS.items() for name, default in other.options.items()
    }
    for name, value in given.items():
        if name not in defaults:
            raise TypeError(f"evaluate() got an unknown option {name!r}")
        if name not in protocol.options and value != defaults[name]:
            flag = "--" + name.replace("_", "-")
            readers = [n for n, other in EVALUATIONS.items() if name in other.options]
            raise ValueError(
                f"{flag} does not apply to {what}, measured by the {protocol.name} protocol; "
                f"it is an option of the {' and '.join(readers)} protocol"
                + ("s" if len(readers) > 1 else "")
            )
    return {name: given.get(name, default) for name, default in protocol.options.items()}


TRANSLATION_OPTIONS = {"y_channel": False, "shave": 0, "lpips_net": "alex", "lpips_weights": None}


@register_protocol("aligned")
class AlignedTranslation(EvaluationProtocol):
    """Outputs of the test inputs against their aligned targets: PSNR, SSIM, LPIPS per
    image, FID/KID of all outputs against the targets (pix2pix, pix2pixHD)."""

    options = TRANSLATION_OPTIONS
    validation = ("psnr", "ssim")
    higher_is_better = True
    aligned = True

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        return cls.measure(request, request.translator())

    @classmethod
    def measure(cls, request: EvalRequest, translator: Translator) -> Evaluation:
        return evaluate_translation(
            request.path, translator, request.data, request.metrics, request.setup,
            aligned=cls.aligned, start=request.start, **request.options,
        )  # fmt: skip


@register_protocol("unaligned")
class UnalignedTranslation(AlignedTranslation):
    """A task whose test targets are not aligned with its inputs: the targets serve only as
    the real images of FID/KID, and the paired metrics are reported unavailable."""

    validation = ("fid", "kid")
    higher_is_better = False
    aligned = False


@register_protocol("autoencoder")
class Reconstruction(AlignedTranslation):
    """Each test image its own target (reconstruction PSNR/SSIM/LPIPS, rFID/KID), plus the
    usage and size of its codes (:mod:`.autoencoder`)."""

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        translator = request.translator()
        evaluation = cls.measure(request, translator)
        codes = code_report(translator, request.data, request.setup.batch_size)
        evaluation.summary["metrics"].update(codes)
        return evaluation


def evaluate_translation(
    path: Path,
    translator: Translator,
    data: str | Path,
    metrics: list[str],
    setup: Setup,
    *,
    aligned: bool,
    y_channel: bool,
    shave: int,
    lpips_net: str,
    lpips_weights: str | Path | None,
    start: float,
) -> Evaluation:
    """The translation protocol (see the module docstring): outputs of the test inputs,
    against their targets. ``aligned=False`` is for a task whose targets are not aligned
    with its inputs: they still serve as the real images for FID/KID, and the paired
    metrics are reported unavailable."""
    config = dataclasses.replace(translator.config, data=str(data))
    dataset = get_task(config.task).dataset(config, "test")
    if dataset is None:
        raise FileNotFoundError(
            f"{data}: no test/ or val/ folder; eval measures the held-out split, so put the "
            "evaluation images in DATA/test"
        )
    unavailable: dict[str, str] = {}
    lpips_model = lpips_or_reason(
        metrics, lpips_net, lpips_weights, str(translator.device), unavailable
    )
    features = _FeatureCollector.create(
        metrics, dataset, config, setup.inception, setup.device, setup.batch_size,
        setup.use_cache, unavailable,
    )  # fmt: skip
    samples, progress = setup.samples, setup.progress

    per_image, kept = [], []
    for index in tqdm(range(len(dataset)), desc="eval", unit="img", disable=not progress):
        item = dataset[index]
        source, target = item["input"][None], item.get("target")
        if target is not None:  # a grayscale model's target is compared as RGB grey
            target = as_rgb(target[None])[0]
        output = as_rgb(quantize(translator.translate_tensor(source)))  # grey as RGB grey
        if features:
            features.add(output, None if target is None else target[None])
        if len(kept) < samples:
            kept.append((as_rgb(source)[0], output[0], target if target is not None else output[0]))
        if target is None or not aligned:
            continue
        row: dict[str, Any] = {"path": str(item.get("path", index))}
        if "psnr" in metrics:
            row["psnr"] = float(psnr(output, target[None], y_channel=y_channel, shave=shave)[0])
        if "ssim" in metrics:
            row["ssim"] = float(ssim(output, target[None], y_channel=y_channel, shave=shave)[0])
        if lpips_model is not None:
            with torch.inference_mode():
                pair = (output.to(translator.device), target[None].to(translator.device))
                row["lpips"] = float(lpips_model(*pair).flatten()[0])
        per_image.append(row)

    values: dict[str, Any] = {}
    for name in metrics:
        if name in PAIRED and name not in unavailable:
            if not per_image:
                unavailable[name] = "no aligned targets (an unpaired task)"
                continue
            values[name] = float(np.mean([row[name] for row in per_image]))
    if features:
        values.update(features.finish(metrics))
    summary = {
        "model": str(path),
        "data": str(data),
        "split": str(getattr(dataset, "root", "test")),
        "images": len(dataset),
        "task": config.task,
        "direction": getattr(config, "direction", None),
        "image_size": config.image_size,
        "paired_protocol": {"y_channel": y_channel, "shave": shave, "outputs": "rounded to 8 bits"},
        "metrics": {name: values[name] for name in metrics if name in values},
        "unavailable": unavailable,
        "inception": features.identity if features else None,
        "device": str(translator.device),
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": per_image,
    }
    return Evaluation(summary, kept)


class _FeatureCollector:
    """Inception features of outputs (always computed) and of real targets (from the cache
    when the same test files were seen at the same size), batch by batch."""

    def __init__(
        self, extractor: Any, cache_file: Path | None, real: np.ndarray | None, batch_size: int
    ) -> None:
        self.extractor = extractor
        self.cache_file = cache_file
        self.identity = extractor.identity
        self.batch_size = batch_size
        self.real = real
        self.fake_chunks: list[np.ndarray] = []
        self.real_chunks: list[np.ndarray] = []
        self.pending: tuple[list[Tensor], list[Tensor]] = ([], [])

    @classmethod
    def create(
        cls,
        metrics: list[str],
        dataset: Any,
        config: Any,
        inception: Any,
        device: str,
        batch_size: int,
        use_cache: bool,
        unavailable: dict,
    ) -> _FeatureCollector | None:
        wanted = [name for name in ("fid", "kid") if name in metrics]
        if not wanted:
            return None
        from img2img.metrics import inception_features

        try:
            extractor = inception_features.InceptionFeatures(inception, device)
        except (FileNotFoundError, ValueError) as reason:
            unavailable.update(dict.fromkeys(wanted, str(reason)))
            return None
        cache_file, real = None, None
        # Every file read, so a changed B/ image of the A/ B/ layout renews the cache too.
        files = getattr(dataset, "all_files", None) or getattr(dataset, "files", None)
        if use_cache and files:
            variant = json.dumps(
                {
                    "task": config.task,
                    "direction": getattr(config, "direction", None),
                    "size": config.image_size,
                    "images": "test targets",
                    # grey images are other features; RGB runs keep their cache keys
                    **({"channels": 1} if getattr(config, "channels", 3) == 1 else {}),
                },
                sort_keys=True,
            )
            cache_file = inception_features.cache_path(files, extractor, variant)
            real = inception_features.load_cached(cache_file, len(dataset))
        return cls(extractor, cache_file, real, batch_size)

    def add(self, output: Tensor, target: Tensor | None) -> None:
        fakes, reals = self.pending
        fakes.append(output)
        if self.real is None and target is not None:
            reals.append(target)
        if len(fakes) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        fakes, reals = self.pending
        if fakes:
            self.fake_chunks.append(self.extractor(torch.cat(fakes)))
        if reals:
            self.real_chunks.append(self.extractor(torch.cat(reals)))
        self.pending = ([], [])

    def finish(self, metrics: list[str]) -> dict[str, Any]:
        from img2img.metrics.inception_features import save_cached

        self.flush()
        fake = np.concatenate(self.fake_chunks)
        real = self.real
        if real is None:
            if not self.real_chunks:
                return {}
            real = np.concatenate(self.real_chunks)
            if self.cache_file is not None:
                save_cached(self.cache_file, real)
        return distribution_metrics(real, fake, metrics)
