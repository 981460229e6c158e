"""What an autoencoder's codes cost and how well it uses them (``img2img eval`` of a VQGAN).

Reconstruction quality (PSNR, SSIM, LPIPS, and rFID/KID of the reconstructions against the
originals) is the aligned-translation protocol of :mod:`.evaluate` with each test image as
its own target. This module adds the code statistics over the whole test split:

- ``codebook_usage``: the share of the codebook's entries that occur at least once;
- ``perplexity``: ``exp`` of the entropy of the code frequencies (the number of equally
  used codes they are worth; at most the codebook size);
- ``bits_per_image``: a code map of ``h x w`` indices into K codes costs ``h w log2 K``
  bits; a KL or plain autoencoder's float latent is counted at 16 bits a value;
- ``compression_ratio``: the image's 24 bits a pixel (``3 H W x 8``) over those bits.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from img2img.infer import Translator
from img2img.nets.quantizers import code_statistics
from img2img.tasks import get_task

LATENT_BITS = 16
"""Bits a float latent value is counted at: half precision, how latents are usually kept."""


def code_report(translator: Translator, data: str | Path, batch_size: int = 16) -> dict[str, Any]:
    """Code statistics (see the module docstring) of ``translator``'s model over the test
    split of ``data``, encoded in batches of ``batch_size``."""
    config = dataclasses.replace(translator.config, data=str(data))
    dataset = get_task(config.task).dataset(config, "test")
    codes: list[torch.Tensor] = []
    for start in range(0, len(dataset), batch_size):
        batch = [dataset[i]["input"] for i in range(start, min(start + batch_size, len(dataset)))]
        codes.append(translator.encode(torch.stack(batch)))
    codes_all = torch.cat(codes)
    size = translator.generator.codebook_size
    bits = code_bits(codes_all[0], size)
    values = {"bits_per_image": bits, "compression_ratio": 3 * 8 * config.image_size**2 / bits}
    if size:
        usage, perplexity = code_statistics(codes_all, size)
        values = {"codebook_usage": usage, "perplexity": perplexity, **values}
    return values


def code_bits(codes: torch.Tensor, codebook_size: int) -> float:
    """Bits one image's ``codes`` take: ``log2(codebook_size)`` per index of a code map, or
    :data:`LATENT_BITS` per value of a float latent (``codebook_size`` 0)."""
    per_value = math.log2(codebook_size) if codebook_size else LATENT_BITS
    return codes.numel() * per_value
