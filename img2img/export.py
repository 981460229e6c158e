"""Export a trained generator to ONNX or TorchScript, for serving without img2img.

The exported network is exactly what :class:`img2img.infer.Translator` runs (EMA weights
when present, per-image batch-norm statistics for batch-size-1 models, dropout off), with a
dynamic batch, height and width. Input: N x C x H x W float32 in [-1, 1] (C = 3, or 1 for a
``--channels 1`` model, which takes luma), H and W multiples
of the network's stride (2**depth for a U-Net: 256 for UNet-256; 4 for ResNet generators;
pad as ``img2img.infer.pad_to_multiple`` does). Output: the same shape, in [-1, 1].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from img2img.engines import OPSET, export_onnx
from img2img.infer import load

FORMATS = ("onnx", "torchscript")


def export_model(
    model: str | Path,
    output: str | Path,
    format: str = "onnx",
    use_ema: bool = True,
    opset: int = OPSET,
    direction: str | None = None,
) -> Path:
    """Write ``model`` (run directory or shipped name) to ``output``; returns the path.
    ``direction`` picks the network of a two-way model (CycleGAN; default "AtoB")."""
    if format not in FORMATS:
        raise ValueError(f"format={format!r}; choose one of {', '.join(FORMATS)}")
    translator = load(model, "cpu", "fp32", use_ema=use_ema, direction=direction, engine="torch")
    if translator.inpaints:
        raise ValueError(
            f"{model}: an inpainting model takes an image and a mask; export handles "
            "one-input networks only (run it with img2img translate --mask)"
        )
    network = translator.generator
    side = max(translator.multiple, 64)
    example = torch.zeros(1, getattr(network, "in_channels", 3), side, side)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        return export_onnx(network, [example], output, ["image"], opset=opset)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch's deprecation notes on TorchScript tracing
        torch.jit.trace(network, example).save(str(output))
    return output
