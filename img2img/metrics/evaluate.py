"""Evaluate a model on the test split of a dataset folder: ``img2img eval``.

The model translates every test input (batch norm and padding exactly as ``translate``
does), each output is rounded to 8 bits as a saved image would be, and then:

- paired metrics against the item's target (PSNR, SSIM, LPIPS), averaged over images, for
  tasks whose targets are aligned with their inputs (a task class may say ``paired = False``);
- FID and KID of all outputs against the target domain's real images of the same split
  (the dataset's targets, read at the model's image size). Their Inception features are
  cached like a real folder's (keyed by the files, sizes, mtimes, and how they are read),
  so evaluating another model on the same data reuses them.

A metric that cannot be computed here (LPIPS without trunk weights, FID without the
Inception network) is reported as unavailable with the reason, never skipped silently.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from img2img.images import quantize

METRICS = ("fid", "kid", "psnr", "ssim", "lpips")
PAIRED = frozenset({"psnr", "ssim", "lpips"})


@dataclass
class Evaluation:
    """What :func:`evaluate` measured. ``summary`` is JSON-ready: ``metrics`` maps a name to
    a number (``kid`` to ``{"mean", "std"}``), ``unavailable`` a name to the reason, and
    ``per_image`` lists each test file's paired metrics. ``samples`` holds rows of images,
    (3, H, W) in [-1, 1], for the HTML report: (input, output, target), or the columns
    ``summary["columns"]`` names (models without aligned targets, :mod:`.unpaired`)."""

    summary: dict[str, Any]
    samples: list[tuple[Tensor, ...]] = field(default_factory=list)


def parse_metrics(text: str) -> list[str]:
    """ "fid,kid" -> ["fid", "kid"]; an unknown name is an error listing the known ones."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or text!r}; choose from {','.join(METRICS)}")
    return names


def evaluate(
    model: str | Path,
    data: str | Path,
    metrics: list[str] | tuple[str, ...] = METRICS,
    *,
    device: str = "auto",
    batch_size: int = 16,
    y_channel: bool = False,
    shave: int = 0,
    inception: str | Path | None = None,
    lpips_net: str = "alex",
    lpips_weights: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = True,
    samples: int = 0,
    generate: int = 0,
    real_count: int = 0,
    seed: int = 0,
) -> Evaluation:
    """Translate the test split of ``data`` with ``model`` and measure ``metrics``.

    ``model``: a run directory or shipped model name. ``data``: a dataset folder of the
    model's task with a ``test/`` (or ``val/``) split. ``y_channel`` / ``shave``: compute
    PSNR/SSIM on the luma with that many border pixels dropped (the SR convention).
    ``samples``: how many (input, output, target) triples to keep for a report.
    CycleGAN and GAN models are measured by :mod:`img2img.metrics.unpaired`; for a GAN,
    ``generate`` samples (0: as many as the real images) drawn with latents from ``seed``,
    against ``real_count`` real images (0: all; else a random subset chosen by ``seed``).
    """
    from tqdm import tqdm

    from img2img.infer import load
    from img2img.metrics import unpaired
    from img2img.metrics.pixel import psnr, ssim
    from img2img.saved_models import resolve_model
    from img2img.tasks import get_task

    start = time.perf_counter()
    metrics = list(dict.fromkeys(metrics))
    setup = unpaired.Setup(device, batch_size, inception, use_cache, progress, samples)
    task_name = unpaired.model_task(model)
    if task_name == "gan":
        return unpaired.evaluate_gan(
            model, data, metrics, setup, generate=generate, real_count=real_count, seed=seed
        )
    if task_name == "cyclegan":
        return unpaired.evaluate_cyclegan(model, data, metrics, setup)
    translator = load(model, device)
    if translator.config.task == "srgan":  # HR test images; LR made by the SR protocol
        from img2img.metrics.sr import evaluate_sr

        summary, kept = evaluate_sr(
            translator, data, metrics, model_path=str(resolve_model(model)),
            inception=inception, lpips_net=lpips_net, lpips_weights=lpips_weights,
            progress=progress, samples=samples,
        )  # fmt: skip
        return Evaluation(summary, kept)
    config = dataclasses.replace(translator.config, data=str(data))
    task = get_task(config.task)
    # A task whose targets are not aligned with its inputs (unpaired translation) sets
    # ``paired = False``: its targets still serve as the real images for FID/KID.
    paired = getattr(task, "paired", True)
    dataset = task.dataset(config, "test")
    if dataset is None:
        raise FileNotFoundError(
            f"{data}: no test/ or val/ folder; eval measures the held-out split, so put the "
            "evaluation images in DATA/test"
        )
    unavailable: dict[str, str] = {}
    lpips_model = _lpips_or_reason(
        metrics, lpips_net, lpips_weights, translator.device, unavailable
    )
    features = _FeatureCollector.create(
        metrics, dataset, config, inception, device, batch_size, use_cache, unavailable
    )

    per_image, kept = [], []
    for index in tqdm(range(len(dataset)), desc="eval", unit="img", disable=not progress):
        item = dataset[index]
        source, target = item["input"][None], item.get("target")
        output = quantize(translator.translate_tensor(source))
        if features:
            features.add(output, None if target is None else target[None])
        if len(kept) < samples:
            kept.append((source[0], output[0], target if target is not None else output[0]))
        if target is None or not paired:
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
        "model": str(resolve_model(model)),
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


def _lpips_or_reason(
    metrics: list[str], net: str, weights: Any, device: torch.device, unavailable: dict
) -> torch.nn.Module | None:
    if "lpips" not in metrics:
        return None
    from img2img.backbones.lpips import LPIPSUnavailable, load_lpips

    try:
        return load_lpips(net, str(weights) if weights else None, str(device))
    except LPIPSUnavailable as reason:
        unavailable["lpips"] = str(reason)
        return None


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
        files = getattr(dataset, "files", None)
        if use_cache and files:
            variant = json.dumps(
                {
                    "task": config.task,
                    "direction": getattr(config, "direction", None),
                    "size": config.image_size,
                    "images": "test targets",
                },
                sort_keys=True,
            )
            cache_file = inception_features.cache_path(files, extractor, variant)
            real = inception_features.load_cached(cache_file, len(files))
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


def distribution_metrics(real: np.ndarray, fake: np.ndarray, metrics: list[str]) -> dict[str, Any]:
    """FID and/or KID (as named in ``metrics``) of Inception features ``fake`` vs ``real``."""
    from img2img.metrics.distances import fid_from_features, kid_from_features

    values: dict[str, Any] = {}
    if "fid" in metrics:
        values["fid"] = fid_from_features(real, fake)
    if "kid" in metrics:
        result = kid_from_features(real, fake)
        values["kid"] = {"mean": result.mean, "std": result.std}
    return values


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a small text table, one metric a line (``fid_AtoB`` is a FID); SR
    models get their own table: per image, with the bicubic baseline."""
    if summary.get("task") == "srgan":
        from img2img.metrics.sr import format_sr_table

        return format_sr_table(summary)
    images = summary.get("description") or f"{summary['images']} test images"
    head = (
        f"{Path(summary['model']).name} on {summary['data']} ({images}"
        f"{', ' + summary['direction'] if summary.get('direction') else ''}, "
        f"{summary['image_size']} px)"
    )
    width = max([8, *(len(name) + 1 for name in summary["metrics"])])
    lines = [head, f"{'metric':<{width}} value"]
    for name, value in summary["metrics"].items():
        kind = name.split("_")[0]
        if kind == "kid":
            text = f"{value['mean']:.4f} +- {value['std']:.4f}"
        elif kind == "psnr":
            text = f"{value:.2f} dB"
        elif kind in ("ssim", "lpips"):
            text = f"{value:.4f}"
        else:
            text = f"{value:.2f}"
        lines.append(f"{name:<{width}} {text}")
    for name, reason in summary["unavailable"].items():
        lines.append(f"{name:<{width}} unavailable: {reason}")
    return "\n".join(lines)


def default_output_dir(model: str | Path) -> Path:
    """Where eval writes: the run directory itself, or ``runs/eval/<name>`` for a model
    shipped in ``weights/`` (which an evaluation should not modify)."""
    from img2img.saved_models import WEIGHTS_DIR, resolve_model

    path = resolve_model(model).resolve()
    if path.parent == WEIGHTS_DIR.resolve():
        return Path("runs") / "eval" / path.name
    return path


def write_json(evaluation: Evaluation, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evaluation.summary, indent=2) + "\n")
    return path


def _png_data_uri(image: Tensor) -> str:
    from img2img.images import tensor_to_pil

    buffer = io.BytesIO()
    tensor_to_pil(image.clamp(-1, 1)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_html(evaluation: Evaluation, path: Path) -> Path:
    """A single self-contained HTML file: the metric table and input | output | target rows
    (or the columns ``summary["columns"]`` names; images embedded as PNG data URIs) with
    each row's paired metrics."""
    summary = evaluation.summary
    columns = summary.get("columns", ["input", "output", "target"])
    rows = []
    for k, images in enumerate(evaluation.samples):
        stats = summary["per_image"][k] if k < len(summary["per_image"]) else {}
        caption = ", ".join(f"{n} {v:.3f}" for n, v in stats.items() if n != "path")
        cells = "".join(f'<td><img src="{_png_data_uri(x)}"></td>' for x in images)
        rows.append(
            f"<tr>{cells}<td>{html.escape(Path(stats.get('path', '')).name)}<br>"
            f"{html.escape(caption)}</td></tr>"
        )
    table = html.escape(format_table(summary))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><meta charset=utf-8><title>img2img eval</title>"
        "<style>body{font-family:sans-serif}img{width:256px}td{vertical-align:top}</style>"
        f"<h1>{html.escape(Path(summary['model']).name)}</h1><pre>{table}</pre>"
        "<table><tr>"
        + "".join(f"<th>{html.escape(name)}</th>" for name in columns)
        + "<th></th></tr>"
        + "".join(rows)
        + "</table>\n"
    )
    return path
