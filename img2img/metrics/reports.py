"""What an evaluation returns and how it is reported: the text table, JSON and HTML.

Every protocol (:mod:`.evaluate` for aligned translation, :mod:`.unpaired` for CycleGAN and
GANs, :mod:`.sr` for super-resolution) returns an :class:`Evaluation`, so the reports are
written once, here, for all of them.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from img2img.hub_models import is_hub_snapshot
from img2img.images import tensor_to_pil
from img2img.saved_models import WEIGHTS_DIR, resolve_model

# Measured, or reported unavailable with the reason, for every model (eval's default).
METRICS = ("fid", "kid", "psnr", "ssim", "lpips")
PAIRED = frozenset({"psnr", "ssim", "lpips"})
# Asked for by name, for models trained on digits (:mod:`.digits`); only protocols that
# list them in ``extra_metrics`` measure them.
DIGIT_METRICS = ("digits", "modes")


@dataclass
class Evaluation:
    """What :func:`evaluate` measured. ``summary`` is JSON-ready: ``metrics`` maps a name to
    a number (``kid`` to ``{"mean", "std"}``), ``unavailable`` a name to the reason, and
    ``per_image`` lists each test file's paired metrics. ``samples`` holds rows of images,
    (3, H, W) in [-1, 1], for the HTML report: (input, output, target), or the columns
    ``summary["columns"]`` names (models without aligned targets, :mod:`.unpaired`)."""

    summary: dict[str, Any]
    samples: list[tuple[Tensor, ...]] = field(default_factory=list)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a small text table, one metric a line (``fid_AtoB`` is a FID); a
    protocol with its own table (super-resolution: per image, with the bicubic baseline;
    inpainting: beside Telea) formats its summaries itself."""
    from img2img.metrics.protocols import EVALUATIONS

    protocol = EVALUATIONS.get(summary.get("evaluation", ""))
    table = protocol.format_table(summary) if protocol is not None else None
    if table is not None:
        return table
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
        elif name == "digits_confident":
            text = f"{100 * value:.1f}% read with p >= 0.9"
        elif name == "digits_classes":
            text = f"{value} of 10 classes with >= 3% of the samples"
        elif name == "modes":
            text = f"{value} of 1000"
        elif name.endswith("_kl"):
            text = f"{value:.4f} (KL from uniform, nats)"
        else:
            text = f"{value:.2f}"
        lines.append(f"{name:<{width}} {text}")
    for name, reason in summary["unavailable"].items():
        lines.append(f"{name:<{width}} unavailable: {reason}")
    return "\n".join(lines)


def default_output_dir(model: str | Path) -> Path:
    """Where eval writes: the run directory itself, or ``runs/eval/<name>`` for a model
    shipped in ``weights/`` or one from the Hub's cache (``runs/eval/org--name``), which an
    evaluation should not modify."""
    path = resolve_model(model).resolve()
    if path.parent == WEIGHTS_DIR.resolve():
        return Path("runs") / "eval" / path.name
    if is_hub_snapshot(path):
        return Path("runs") / "eval" / path.parent.parent.name.removeprefix("models--")
    return path


def write_json(evaluation: Evaluation, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evaluation.summary, indent=2) + "\n")
    return path


def _png_data_uri(image: Tensor) -> str:
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
