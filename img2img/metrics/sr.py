"""Super-resolution evaluation: the SRGAN/EDSR protocol, with the bicubic baseline alongside.

For each HR image of a test set (a flat folder such as Set5, or DATA/test):

1. the HR image is cropped at its bottom and right to a multiple of the scale (MATLAB's
   ``modcrop``); grayscale images (Set14's bridge) are read as RGB;
2. LR = PIL ``BICUBIC`` downscaling of that HR image (Keys a = -0.5, antialiased: the kernel
   of MATLAB's ``imresize``), saved to 8 bits;
3. the model's output, rounded to 8 bits, and the bicubic baseline (PIL ``BICUBIC`` upscaling
   of the same LR) are compared with the HR image: PSNR and SSIM on the Y channel (ITU-R
   BT.601, MATLAB's ``rgb2ycbcr``) and on RGB, with ``scale`` pixels shaved at each border,
   per image and averaged; optionally FID/KID of all outputs against the HR images, and LPIPS.

With this protocol bicubic x4 gives 28.42 dB on Set5 (published: 28.43); torch's antialiased
bicubic would give 28.62, so the resize kernel is part of the protocol.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from img2img.backbones.lpips import lpips_or_reason
from img2img.images import load_image, pil_to_tensor, quantize
from img2img.metrics.distances import distribution_columns
from img2img.metrics.protocols import EvalRequest, EvaluationProtocol, register_protocol
from img2img.metrics.reports import Evaluation

# Per image and method: (name in the summary, metric, on Y?).
PIXEL_COLUMNS = (("psnr_y", "psnr", True), ("ssim_y", "ssim", True))
PIXEL_COLUMNS += (("psnr_rgb", "psnr", False), ("ssim_rgb", "ssim", False))
METHODS = ("model", "bicubic")


def modcrop(image: Image.Image, scale: int) -> Image.Image:
    """``image`` cropped at the bottom and right to width and height multiples of ``scale``."""
    width, height = image.width - image.width % scale, image.height - image.height % scale
    return image.crop((0, 0, width, height))


def bicubic_pair(hr: Image.Image, scale: int) -> tuple[Image.Image, Image.Image]:
    """(LR, bicubic upscaling of LR), both by PIL BICUBIC; ``hr`` must divide by ``scale``."""
    lr = hr.resize((hr.width // scale, hr.height // scale), Image.Resampling.BICUBIC)
    return lr, lr.resize(hr.size, Image.Resampling.BICUBIC)


def held_out_pairs(
    data: str | Path, scale: int, lr_data: str | Path | None = None
) -> list[tuple[Path, Path | None]]:
    """(HR image, given LR image or None) for each test image: the HR images are DATA/test
    (or DATA/val) when present, else every image in DATA; with ``lr_data`` (training's
    ``--lr-data``) each is paired by name with its LR image in LR_DATA/test (or LR_DATA),
    ``0001.png`` with ``0001.png`` or ``0001x4.png``; without, LR is made from HR (None)."""
    from img2img.data.folders import find_images, match_by_name, resolve_split

    hr_root = Path(resolve_split(data, "test") or data)
    if not lr_data:
        return [(path, None) for path in find_images(hr_root)]
    lr_root = Path(resolve_split(lr_data, "test") or lr_data)
    return match_by_name(hr_root, lr_root, second_suffix=f"x{scale}")


def given_pair(hr: Image.Image, lr_path: Path, scale: int) -> tuple[Image.Image, Image.Image]:
    """(the LR image at ``lr_path``, its PIL BICUBIC upscaling), checked to be ``hr``'s size
    divided by ``scale`` (``hr`` already cropped to a multiple of it)."""
    lr = load_image(lr_path)
    expected = (hr.width // scale, hr.height // scale)
    if lr.size != expected:
        raise ValueError(
            f"{lr_path}: an LR image of {lr.width}x{lr.height}; its HR image (cropped to a "
            f"multiple of {scale}) is {hr.width}x{hr.height}, so x{scale} wants "
            f"{expected[0]}x{expected[1]}"
        )
    return lr, lr.resize(hr.size, Image.Resampling.BICUBIC)


def evaluate_sr(
    translator: Any,
    data: str | Path,
    metrics: list[str],
    *,
    model_path: str,
    inception: str | Path | None = None,
    lpips_net: str = "alex",
    lpips_weights: str | Path | None = None,
    progress: bool = True,
    samples: int = 0,
    lr_data: str | Path | None = None,
) -> tuple[dict[str, Any], list[tuple[Tensor, Tensor, Tensor]]]:
    """Measure an SR model (a loaded ``Translator``) on the HR images of ``data``; with
    ``lr_data``, on the LR images given there (see :func:`held_out_pairs`) instead of LR made by
    the protocol, and bicubic upscales those.

    Returns ``(summary, samples)``: the JSON-ready summary (``metrics`` and ``bicubic`` map
    names such as ``psnr_y`` to means; ``per_image`` has both methods' values per file) and
    up to ``samples`` (LR, output, HR) triples for a report.
    """
    from tqdm import tqdm

    from img2img.metrics.pixel import psnr, ssim

    start = time.perf_counter()
    scale = translator.config.scale
    pairs = held_out_pairs(data, scale, lr_data)
    unavailable: dict[str, str] = {}
    wanted = [name for name, metric, _ in PIXEL_COLUMNS if metric in metrics]
    lpips_model = lpips_or_reason(metrics, lpips_net, lpips_weights, "cpu", unavailable)
    per_image, kept = [], []
    images: dict[str, list[Tensor]] = {"model": [], "bicubic": [], "hr": []}
    for path, lr_path in tqdm(pairs, desc="eval", unit="img", disable=not progress):
        hr_image = modcrop(load_image(path), scale)
        if lr_path is None:
            lr_image, bicubic_image = bicubic_pair(hr_image, scale)
        else:
            lr_image, bicubic_image = given_pair(hr_image, lr_path, scale)
        hr, lr = pil_to_tensor(hr_image)[None], pil_to_tensor(lr_image)[None]
        outputs = {
            "model": quantize(translator.translate_tensor(lr)),
            "bicubic": pil_to_tensor(bicubic_image)[None],
        }
        if outputs["model"].shape != hr.shape:
            raise ValueError(
                f"{path}: the model returned {tuple(outputs['model'].shape[-2:])} for an LR "
                f"input of {tuple(lr.shape[-2:])}; expected {tuple(hr.shape[-2:])} (x{scale})"
            )
        row: dict[str, Any] = {"path": str(path)}
        for method, output in outputs.items():
            prefix = "" if method == "model" else "bicubic_"
            for name, metric, on_y in PIXEL_COLUMNS:
                if name in wanted:
                    measure = psnr if metric == "psnr" else ssim
                    row[prefix + name] = float(measure(output, hr, y_channel=on_y, shave=scale)[0])
            if lpips_model is not None:
                with torch.inference_mode():
                    row[prefix + "lpips"] = float(lpips_model(output, hr).flatten()[0])
            images[method].append(output)
        images["hr"].append(hr)
        per_image.append(row)
        if len(kept) < samples:
            kept.append((lr[0], outputs["model"][0], hr[0]))

    means = {method: {} for method in METHODS}
    for method in METHODS:
        prefix = "" if method == "model" else "bicubic_"
        for name in [*wanted, *(["lpips"] if lpips_model is not None else [])]:
            means[method][name] = float(np.mean([row[prefix + name] for row in per_image]))
    # FID/KID of whole images, each resized to 299 px by the Inception preprocessing.
    distribution_columns(metrics, images, "hr", inception, means, unavailable)
    summary = {
        "model": model_path,
        "data": str(data),
        "images": len(pairs),
        "task": translator.config.task,
        "scale": scale,
        "lr_data": str(lr_data) if lr_data else None,
        "image_size": translator.config.image_size,
        "protocol": {
            "lr": (
                "HR cropped to a multiple of scale, PIL BICUBIC downscale, 8 bits"
                if not lr_data
                else f"given in {lr_data}, matched by name"
            ),
            "bicubic": "PIL BICUBIC upscale of the same LR",
            "shave": scale,
            "y_channel": "ITU-R BT.601 (MATLAB rgb2ycbcr)",
            "outputs": "rounded to 8 bits",
        },
        "metrics": means["model"],
        "bicubic": means["bicubic"],
        "unavailable": unavailable,
        "device": str(translator.device),
        "seconds": round(time.perf_counter() - start, 1),
        "per_image": per_image,
    }
    return summary, kept


def format_sr_table(summary: dict[str, Any]) -> str:
    """Per-image rows and the mean, the model's values then bicubic's, one column each."""
    names = [name for name in summary["metrics"] if name not in ("fid", "kid")]
    given = summary.get("lr_data")
    lr = f"LR from {given}" if given else "LR by PIL bicubic"
    head = (
        f"{Path(summary['model']).name} on {summary['data']} ({summary['images']} images, "
        f"x{summary['scale']}; {lr}; {summary['scale']} px shaved; "
        "model | bicubic)"
    )
    width = max([len(Path(row["path"]).name) for row in summary["per_image"]] + [8])
    columns = "".join(f"{name:>18}" for name in names)
    lines = [head, f"{'image':<{width}}{columns}"]

    def cells(model: dict[str, Any], bicubic: dict[str, Any]) -> str:
        pairs = (f"{_number(n, model[n])} | {_number(n, bicubic[n])}" for n in names)
        return "".join(pair.rjust(18) for pair in pairs)

    for row in summary["per_image"]:
        bicubic = {name: row["bicubic_" + name] for name in names}
        lines.append(f"{Path(row['path']).name:<{width}}{cells(row, bicubic)}")
    lines.append(f"{'mean':<{width}}{cells(summary['metrics'], summary['bicubic'])}")
    for name in ("fid", "kid"):
        if name in summary["metrics"]:
            model, bicubic = summary["metrics"][name], summary["bicubic"][name]
            lines.append(f"{name:<{width}}{_number(name, model)} | {_number(name, bicubic)}")
    for name, reason in summary["unavailable"].items():
        lines.append(f"{name:<{width}}unavailable: {reason}")
    return "\n".join(lines)


def _number(name: str, value: Any) -> str:
    if name == "kid":
        return f"{value['mean']:.4f} +- {value['std']:.4f}"
    if name.startswith("psnr") or name == "fid":
        return f"{value:.2f}"
    return f"{value:.4f}"


@register_protocol("super-resolution")
class SuperResolution(EvaluationProtocol):
    """Whole HR test images downscaled by the protocol (or the given LR images,
    ``lr_data``), upscaled by the model and by bicubic: PSNR/SSIM on Y with ``scale`` px
    shaved, the SR papers' convention (:func:`evaluate_sr`)."""

    options: ClassVar[dict[str, Any]] = {
        "lpips_net": "alex",
        "lpips_weights": None,
        "lr_data": None,
    }
    validation = ("psnr", "ssim")
    decides = "psnr_y"
    higher_is_better = True

    @classmethod
    def evaluate(cls, request: EvalRequest) -> Evaluation:
        setup = request.setup
        summary, kept = evaluate_sr(
            request.translator(), request.data, request.metrics, model_path=str(request.path),
            inception=setup.inception, progress=setup.progress, samples=setup.samples,
            **request.options,
        )  # fmt: skip
        return Evaluation(summary, kept)

    @classmethod
    def format_table(cls, summary: dict[str, Any]) -> str:
        return format_sr_table(summary)
