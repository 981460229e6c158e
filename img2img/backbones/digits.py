"""A small MNIST digit classifier, shipped inside the package, for judging digit GANs.

``img2img eval --metrics digits`` (and ``modes`` for Stacked MNIST, one channel at a time)
asks it which digit each sample is and how sure it is (:mod:`img2img.metrics.digits`). Its
weights (``digit_classifier.safetensors``, ~1 MB) and card (``digit_classifier.json``:
data, training command, held-out accuracy) sit beside this module, so a wheel carries them;
``scripts/train_digit_classifier.py`` in img2img's repository makes both from MNIST.

It was trained with *outlier exposure* (Hendrycks et al. 2019): besides the digits, it saw
made-up non-digits (uniform noise, smooth blobs) with a uniform target, so noise and blobs,
the samples of a GAN early in training, get a flat distribution rather than a confident
guess (a plain classifier read 99.6% of noise images as a digit with p >= 0.9; this one
none). Its limit, in the card: two digits overlaid are still read confidently about 60% of
the time (training on overlays too cost it most of its confidence on real digits), so
blends of two digits can pass as recognisable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CLASSIFIER_FILE = Path(__file__).with_name("digit_classifier.safetensors")
CARD_FILE = CLASSIFIER_FILE.with_suffix(".json")
DIGIT_SIZE = 28
TRAINING_SCRIPT = "scripts/train_digit_classifier.py"


class DigitClassifierMissing(FileNotFoundError):
    """The classifier's weights are not where they should be; the message says how to get
    them."""


class DigitClassifier(nn.Module):
    """Digits (N, 1, H, W) in [-1, 1] (white on black, as MNIST) -> logits (N, 10).

    Three 3x3 conv + ReLU + 2x2 max-pool stages (32, 64, 128 channels), a dense layer of
    128 with dropout 0.5, and the 10-way output: ~240k parameters. Images of another size
    are resized to 28 x 28 first (antialiased bilinear), so 32 px samples of a model trained
    on MNIST resized to 32 are read as the 28 px digits they were made from.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, 10),
        )

    def forward(self, digits: Tensor) -> Tensor:
        if digits.shape[-2:] != (DIGIT_SIZE, DIGIT_SIZE):
            digits = F.interpolate(
                digits, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", antialias=True
            )
        return self.head(self.features(digits))


def load_digit_classifier(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> DigitClassifier:
    """The shipped classifier (or the one at ``path``) in eval mode on ``device``; a missing
    file raises :class:`DigitClassifierMissing` saying how to get one."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else CLASSIFIER_FILE
    if not path.is_file():
        raise DigitClassifierMissing(
            f"{path}: the digit classifier that --metrics digits/modes use is missing. It "
            "ships with img2img: reinstall the package (pip install --force-reinstall "
            f"img2img), or make it from MNIST in img2img's repository with `python "
            f"{TRAINING_SCRIPT} --data MNIST_DIR` (`img2img data download mnist` fetches MNIST)"
        )
    classifier = DigitClassifier()
    classifier.load_state_dict(load_file(path))
    return classifier.to(device).eval().requires_grad_(False)


def classifier_card(path: str | Path | None = None) -> dict[str, Any]:
    """The classifier's card (its data, training and held-out accuracy); {} when absent."""
    card = Path(path).with_suffix(".json") if path is not None else CARD_FILE
    return json.loads(card.read_text()) if card.is_file() else {}
