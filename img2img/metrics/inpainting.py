"""Evaluate an inpainting model: ``img2img eval`` for ``--task inpaint``.

Every test image (resized and centre-cropped as in training, see
:class:`img2img.data.inpaint.InpaintFolder`) gets the model's training mask (random kinds:
the same hole per image for every model, drawn from a fixed seed), and each method fills it:

- ``model``: the network, composited (pixels outside the hole are the input's);
- ``telea``: OpenCV's ``cv2.inpaint`` with Telea's fast marching method (radius 3 px), the
  classical baseline;
- ``baseline``: another inpainting run given with ``--baseline`` (e.g. the same network
  trained with L2 only, ``--l2-weight 1``), on the same holes.

Completed images are rounded to 8 bits, then, per image and averaged: mean L1 and L2 error
(in [0, 1] units) and PSNR over the hole only (the Context Encoders paper's protocol) and
over the whole image, and SSIM of the whole image; FID/KID of each method's completions
against the original test images.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from img2img.images import quantize, tensor_to_pil
from img2img.infer import Translator
from img2img.metrics.distances import distribution_columns
from img2img.metrics.pixel import prepare, ssim
from img2img.metrics.protocols import EvalRequest, EvaluationProtocol, register_protocol
from img2img.metrics.reports import Evaluation
from img2img.saved_models import resolve_model
from img2img.tasks import get_task

TELEA_RADIUS = 3
PIXEL_NAMES = ("hole_l1", "hole_l2", "hole_psnr", "l1", "l2", "psnr")


def telea(image: Tensor, mask: Tensor) -> Tensor:
    """(1, 3, H, W) in [-1, 1] with its (1, 1, H, W) hole -> completed by ``cv2.inpaint``
    (Telea), back in [-1, 1]."""
    import cv2

    pixels = np.asarray(tensor_to_pil(image[0]))
    hole = (mask[0, 0].numpy() > 0.5).astype(np.uint8) * 255
    filled = cv2.inpaint(np.ascontiguousarray(pixels), hole, TELEA_RADIUS, cv2.INPAINT_TELEA)
    return torch.from_numpy(filled).permute(2, 0, 1)[None].float() / 127.5 - 1


def pixel_errors(output: Tensor, target: Tensor, mask: Tensor) -> dict[str, float]:
    """Mean L1, L2 (in [0, 1] units) and PSNR over the hole and over the whole image."""
    x, y = prepare(output), prepare(target)
    hole = mask.to(x.dtype).expand_as(x)
    values = {}
    for prefix, weight in (("hole_", hole), ("", torch.ones_like(x))):
        count = weight.sum()
        l2 = float(((x - y) ** 2 * weight).sum() / count)
        values[prefix + "l1"] = float(((x - y).abs() * weight).sum() / count)
        values[prefix + "l2"] = l2
        values[prefix + "psnr"] = 10 * float(np.log10(1 / max(l2, 1e-10)))
    return values


def evaluate_inpainting(
    translator: Translator,
    data: str | Path,
    metrics: list[str],
    *,
    model_path: str,
    baseline: Translator | None = None,
    baseline_path: str | None = None,
    mask: str | None = None,
    inception: str | Path | None = None,
    progress: bool = True,
    samples: int = 0,
) -> tuple[dict[str, Any], list[tuple[Tensor, ...]]]:
    """Measure ``translator``'s model (and the baselines) on the test split of ``data``.

    Returns ``(summary, samples)``: ``summary["metrics"]`` holds the model's means,
    ``summary["baselines"]`` each baseline's, ``per_image`` every method's values per file;
    ``samples`` up to that many rows (holed input, Telea, [baseline], model, original).
    ``mask``: a kind of :data:`img2img.data.masks.MASKS` to measure on instead of the
    model's training mask (a free-form model on centre holes, say).
    """
    start = time.perf_counter()
    # d_input only matters in training; "image" goes with every kind of mask.
    kind = mask or translator.config.mask
    config = dataclasses.replace(translator.config, data=str(data), mask=kind, d_input="image")
    dataset = get_task(config.task).dataset(config, "test")
    if dataset is None:
        raise FileNotFoundError(
            f"{data}: no test/ or val/ folder; eval measures the held-out split, so put the "
            "evaluation images in DATA/test"
        )
    methods = ["model", "telea", *(["baseline"] if baseline is not None else [])]
    unavailable = {"lpips": "not part of the inpainting protocol"} if "lpips" in metrics else {}
    per_image, kept = [], []
    completed: dict[str, list[Tensor]] = {method: [] for method in [*methods, "original"]}
    for index in tqdm(range(len(dataset)), desc="eval", unit="img", disable=not progress):
        item = dataset[index]
        image, mask = item["target"][None], item["mask"][None]
        outputs = {"model": quantize(translator.inpaint_tensor(image, mask))}
        outputs["telea"] = telea(image, mask)
        if baseline is not None:
            outputs["baseline"] = quantize(baseline.inpaint_tensor(image, mask))
        row: dict[str, Any] = {"path": str(item["path"])}
        for method, output in outputs.items():
            prefix = "" if method == "model" else method + "_"
            if "psnr" in metrics:
                errors = pixel_errors(output, image, mask)
                row.update({prefix + name: value for name, value in errors.items()})
            if "ssim" in metrics:
                row[prefix + "ssim"] = float(ssim(output, image)[0])
            completed[method].append(output)
        completed["original"].append(image)
        per_image.append(row)
        if len(kept) < samples:
            holed = torch.where(mask.bool(), torch.ones_like(image), image)
            kept.append(
                (holed[0], *(outputs[m][0] for m in methods[1:]), outputs["model"][0], image[0])
            )

    names = [*(PIXEL_NAMES if "psnr" in metrics else ()), *(["ssim"] if "ssim" in metrics else [])]
    means: dict[str, dict[str, Any]] = {}
    for method in methods:
        prefix = "" if method == "model" else method + "_"
        means[method] = {
            name: float(np.mean([row[prefix + name] for row in per_image])) for name in names
        }
    distribution_columns(metrics, completed, "original", inception, means, unavailable)
    summary = {
        "model": model_path,
        "data": str(data),
        "split": str(dataset.root),
        "images": len(dataset),
        "task": config.task,
        "image_size": config.image_size,
        "mask": config.mask,
        "columns": ["input with hole", *methods[1:], "model", "original"],
        "protocol": {
            "holes": f"{config.mask} (drawn from a fixed seed: the same for every method)",
            "telea": f"cv2.inpaint, INPAINT_TELEA, radius {TELEA_RADIUS}",
            "outputs": "rounded to 8 bits; L1/L2 in [0, 1] units",
        },
        "metrics": means["model"],
        "baselines": {method: means[method] for method in methods[1:]},
        "baseline_model": baseline_path,
        "unavailable": unavailable,
        "device": str(translator.device),
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": per_image,
    }
    return summary, kept


def format_inpainting_table(summary: dict[str, Any]) -> str:
    """One line per metric: the model's mean, then each baseline's."""
    methods = ["model", *summary["baselines"]]
    head = (
        f"{Path(summary['model']).name} on {summary['data']} ({summary['images']} test images, "
        f"{summary['image_size']} px, {summary['mask']} holes; {' | '.join(methods)})"
    )
    columns = [summary["metrics"], *summary["baselines"].values()]
    lines = [head]
    for name in summary["metrics"]:
        cells = [_number(name, column[name]) for column in columns]
        lines.append(f"{name:<10}" + " | ".join(cell.rjust(16) for cell in cells))
    for name, reason in summary["unavailable"].items():
        lines.append(f"{name:<10}unavailable: {reason}")
    return "\n".join(lines)


def _number(name: str, value: Any) -> str:
    if name == "kid":
        return f"{value['mean']:.4f} +- {value['std']:.4f}"
    if name.endswith("psnr"):
        return f"{value:.2f} dB"
    return f"{value:.2f}" if name == "fid" else f"{value:.4f}"


@register_protocol("inpainting")
class Inpainting(EvaluationProtocol):
    """Holes drawn from a fixed seed in the test images, filled by the model, OpenCV's
    Telea and an optional ``baseline`` model: L1/L2/PSNR over the hole and the whole image,
    SSIM, FID/KID (:func:`evaluate_inpainting`). ``--val-every`` keeps the best hole PSNR."""

    options: ClassVar[dict[str, Any]] = {"baseline": None, "mask": None}
    validation = ("psnr", "ssim")
    decides = "hole_psnr"
    higher_is_better = True

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        baseline = request.options["baseline"]
        other = None
        if baseline is not None:
            other = Translator.from_pretrained(baseline, str(request.device), engine=request.engine)
        setup = request.setup
        summary, kept = evaluate_inpainting(
            request.translator(), request.data, request.metrics,
            model_path=str(request.path), baseline=other,
            baseline_path=None if baseline is None else str(resolve_model(baseline)),
            mask=request.options["mask"], inception=setup.inception, progress=setup.progress,
            samples=setup.samples,
        )  # fmt: skip
        return Evaluation(summary, kept)

    @classmethod
    def format_table(cls, summary: dict[str, Any]) -> str:
        return format_inpainting_table(summary)
