"""Judging GANs trained on digits: are the samples digits, and are all of them there?

A shipped MNIST classifier (:mod:`img2img.backbones.digits`) reads every sample.

- ``digits`` (models trained on MNIST): ``digits_confident``, the share of samples the
  classifier reads with probability >= 0.9 (recognisable digits); ``digits_classes``, how
  many of the 10 classes get at least 3% of the samples (a collapsed model covers few);
  ``digits_kl``, KL(p || uniform) of the histogram p of the samples' classes (0 for
  exactly even classes; a perfect model's finite sample gives about 9 / (2 N)).
- ``modes`` (models trained on Stacked MNIST, ``--stacked``): each of the three channels
  is classified on its own and the sample's mode is the digit triple, one of 1000;
  ``modes`` counts the distinct triples among the samples and ``modes_kl`` is KL(p ||
  uniform over 1000) of their histogram, the two numbers of the unrolled-GAN, VEEGAN and
  PacGAN papers (which draw 25,600 or 26,000 samples: ``--generate 26000`` compares; a
  perfect model's 10,000 samples give about 0.05).

KL is in nats, sum over the classes with p > 0 of p log(p K), as PacGAN's code computes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.data.wrappers import STACKED_MODES

CONFIDENT = 0.9  # a sample read with at least this probability counts as recognisable
PRESENT = 0.03  # a class with at least this share of the samples counts as covered
DIGIT_CLASSES = 10


def class_histogram(classes: Tensor, num_classes: int) -> Tensor:
    """Each class's share of ``classes`` (N,) of ints in [0, num_classes): (num_classes,)
    float64 summing to 1."""
    counts = torch.bincount(classes.flatten().long(), minlength=num_classes).double()
    return counts / counts.sum()


def kl_from_uniform(shares: Tensor) -> float:
    """KL(p || uniform) in nats for a histogram ``shares`` over its K classes:
    sum over p > 0 of p log(p K)."""
    present = shares[shares > 0]
    return float((present * (present * len(shares)).log()).sum())


def digit_scores(probabilities: Tensor) -> dict[str, float]:
    """The ``digits`` metrics of samples whose classes the classifier gives as
    ``probabilities`` (N, 10)."""
    confidence, classes = probabilities.max(dim=1)
    shares = class_histogram(classes, DIGIT_CLASSES)
    return {
        "digits_confident": float((confidence >= CONFIDENT).double().mean()),
        "digits_classes": int((shares >= PRESENT).sum()),
        "digits_kl": kl_from_uniform(shares),
    }


def mode_scores(channel_classes: Tensor) -> dict[str, float]:
    """The ``modes`` metrics of Stacked MNIST samples whose three channels were read as
    ``channel_classes`` (N, 3) digits (red, green, blue)."""
    red, green, blue = channel_classes.long().unbind(dim=1)
    modes = 100 * red + 10 * green + blue
    shares = class_histogram(modes, STACKED_MODES)
    return {"modes": int((shares > 0).sum()), "modes_kl": kl_from_uniform(shares)}


@torch.no_grad()
def channel_probabilities(
    classifier: torch.nn.Module, images: Tensor, batch_size: int = 256
) -> Tensor:
    """The classifier's class probabilities for each channel of ``images`` (N, C, H, W) in
    [-1, 1], read as a grey digit: (N, C, 10)."""
    device = next(classifier.parameters()).device
    n, c = images.shape[:2]
    digits = images.reshape(n * c, 1, *images.shape[2:])
    chunks = [
        F.softmax(classifier(digits[i : i + batch_size].to(device).float()), dim=1).cpu()
        for i in range(0, len(digits), batch_size)
    ]
    return torch.cat(chunks).reshape(n, c, DIGIT_CLASSES)


def digit_metrics(images: Tensor, metrics: list[str], device: torch.device) -> dict[str, Any]:
    """``digits`` and/or ``modes`` (as asked in ``metrics``) of samples ``images`` (N, C, H,
    W) in [-1, 1]: one channel for ``digits``, three for ``modes``."""
    from img2img.backbones.digits import load_digit_classifier

    classifier = load_digit_classifier(device=device)
    probabilities = channel_probabilities(classifier, images)
    values: dict[str, Any] = {}
    if "digits" in metrics:
        values.update(digit_scores(probabilities[:, 0]))
    if "modes" in metrics:
        values.update(mode_scores(probabilities.argmax(dim=2)))
    return values


def trained_on_digits(config: Any) -> bool:
    """Whether ``config``'s model was trained on MNIST: its ``data`` is an MNIST folder (IDX
    files) or, where that folder is not at hand, one named like one (``.../mnist``)."""
    from img2img.data.mnist import is_mnist_folder

    data = str(getattr(config, "data", ""))
    return bool(data) and (is_mnist_folder(data) or "mnist" in Path(data).name.lower())


def check_digit_metrics(metrics: list[str], config: Any, model: str | Path) -> None:
    """Refuse ``digits`` / ``modes`` for a model whose training data they do not fit, naming
    that data: ``digits`` needs MNIST, ``modes`` Stacked MNIST (``--stacked``)."""
    stacked = bool(getattr(config, "stacked", False))
    data = f"{getattr(config, 'data', '') or 'no recorded data'}"
    digits = trained_on_digits(config)
    if "digits" in metrics and not (digits and not stacked):
        hint = "; it draws Stacked MNIST: use --metrics modes" if stacked else ""
        raise ValueError(
            f"--metrics digits reads samples of a model trained on MNIST digits; {model} was "
            f"trained on {data}{hint}"
        )
    if "modes" in metrics and not (digits and stacked):
        hint = " (MNIST digits: use --metrics digits)" if digits else ""
        raise ValueError(
            f"--metrics modes counts the 1000 modes of Stacked MNIST (a model trained with "
            f"--stacked); {model} was trained on {data}{hint}"
        )
