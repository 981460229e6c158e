"""Train the digit classifier that ``img2img eval --metrics digits`` and ``modes`` use, and
write it into the package with its card (img2img/backbones/digit_classifier.safetensors and
.json; see :mod:`img2img.backbones.digits`).

    python scripts/train_digit_classifier.py --data MNIST_DIR

Data: the MNIST IDX files of ``--split`` in ``MNIST_DIR`` (default the test split, t10k-*:
the one a folder with only the test split has); the first ``--train-count`` digits train it,
the rest are held out, and the card records its accuracy on them. Digits are augmented
with small random rotations, shifts and scalings. Outlier exposure (Hendrycks et al. 2019):
every batch also holds made-up non-digits (uniform noise, smooth blobs, two digits of
different classes overlaid) whose target is the uniform distribution, so that a sample
that is no digit is not read as one with confidence. A few minutes on a laptop CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.backbones.digits import CLASSIFIER_FILE, TRAINING_SCRIPT, DigitClassifier
from img2img.checkpoint import atomic_write, save_weights
from img2img.data.mnist import MNIST

CONFIDENT = 0.9


def split_files(root: Path, split: str) -> tuple[Path, Path]:
    """(images, labels) IDX files of ``split`` in ``root`` (gzipped or not)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    found = []
    for kind, dims in (("images", 3), ("labels", 1)):
        names = [root / f"{prefix}-{kind}-idx{dims}-ubyte{s}" for s in (".gz", "")]
        path = next((name for name in names if name.is_file()), None)
        if path is None:
            raise SystemExit(f"{root}: no {names[0].name} (MNIST's {split} split); see --split")
        found.append(path)
    return found[0], found[1]


def augment(digits: Tensor, generator: torch.Generator) -> Tensor:
    """Each digit rotated by up to 10 degrees, scaled by 0.9-1.1 and shifted by up to 2 px."""
    n = len(digits)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 0.9 + 0.2 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(digits.shape), align_corners=False)
    return F.grid_sample(digits + 1, grid, align_corners=False, padding_mode="zeros") - 1


def non_digits(
    digits: Tensor, labels: Tensor, n: int, generator: torch.Generator
) -> dict[str, Tensor]:
    """``n`` made-up non-digits of each kind (N, 1, 28, 28) in [-1, 1]: uniform noise, smooth
    white blobs on black, and two digits of different classes overlaid (their maximum)."""
    noise = torch.rand(n, 1, 28, 28, generator=generator) * 2 - 1
    coarse = torch.randn(n, 1, 7, 7, generator=generator)
    smooth = F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=False)
    level = 0.3 + torch.rand(n, 1, 1, 1, generator=generator)
    blobs = torch.where(smooth > level, 1.0, -1.0)
    first = torch.randint(len(digits), (n,), generator=generator)
    second = torch.randint(len(digits), (n,), generator=generator)
    second = torch.where(labels[first] == labels[second], (second + 1) % len(digits), second)
    overlays = torch.maximum(digits[first], digits[second])
    return {"noise": noise, "blobs": blobs, "overlays": overlays}


@torch.no_grad()
def confident_share(classifier: DigitClassifier, images: Tensor) -> float:
    return float((F.softmax(classifier(images), 1).amax(1) >= CONFIDENT).float().mean())


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    data = MNIST(*split_files(Path(args.data), args.split))
    count = args.train_count
    if not 0 < count < len(data):
        raise SystemExit(f"--train-count {count}: the split holds {len(data)} digits")
    digits, labels = data.images[:count], data.labels[:count]
    held_out, held_labels = data.images[count:], data.labels[count:]
    generator = torch.Generator().manual_seed(args.seed)
    classifier = DigitClassifier()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=args.lr, weight_decay=1e-4)
    kinds = [kind for kind in args.non_digits.split(",") if kind]
    steps = args.epochs * math.ceil(count / args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)
    start = time.time()
    for epoch in range(args.epochs):
        classifier.train()
        order = torch.randperm(count, generator=generator)
        for i in range(0, count, args.batch_size):
            batch = order[i : i + args.batch_size]
            x = augment(digits[batch], generator)
            made = non_digits(digits, labels, args.outliers // max(len(kinds), 1), generator)
            logits = classifier(torch.cat([x, *(made[kind] for kind in kinds)]))
            digit_loss = F.cross_entropy(logits[: len(x)], labels[batch])
            uniform_loss = -F.log_softmax(logits[len(x) :], 1).mean() if kinds else torch.zeros(())
            loss = digit_loss + args.outlier_weight * uniform_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        classifier.eval()
        with torch.no_grad():
            probabilities = F.softmax(classifier(held_out), 1)
        accuracy = float((probabilities.argmax(1) == held_labels).float().mean())
        confident = float((probabilities.amax(1) >= CONFIDENT).float().mean())
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {digit_loss.item():.3f} + outliers "
            f"{uniform_loss.item():.3f}, held-out accuracy {accuracy:.4f}, confident "
            f"{confident:.3f} ({time.time() - start:.0f} s)",
            flush=True,
        )
    write(classifier, args, data, held_out, held_labels, time.time() - start)


def write(classifier, args, data, held_out, held_labels, seconds: float) -> None:
    classifier.eval()
    with torch.no_grad():
        probabilities = F.softmax(classifier(held_out), 1)
    confident = probabilities.amax(1) >= CONFIDENT
    correct = probabilities.argmax(1) == held_labels
    # Non-digits made from the held-out digits, with a seed the training never used.
    check = non_digits(held_out, held_labels, 1000, torch.Generator().manual_seed(10_000))
    out = Path(args.out)
    save_weights(out, classifier)
    card = {
        "what": "MNIST digit classifier for img2img eval --metrics digits / modes",
        "data": (
            f"MNIST {args.split} split: digits 0-{args.train_count - 1} "
            f"trained on, {args.train_count}-{len(data) - 1} held out"
        ),
        "held_out_digits": len(held_out),
        "held_out_accuracy": round(float(correct.float().mean()), 4),
        "held_out_confident": round(float(confident.float().mean()), 4),
        "held_out_confident_accuracy": round(float(correct[confident].float().mean()), 4),
        "confident_threshold": CONFIDENT,
        "non_digits_confident": {
            kind: round(confident_share(classifier, images), 4) for kind, images in check.items()
        },
        "parameters": sum(p.numel() for p in classifier.parameters()),
        "training": {
            "command": (
                f"python {TRAINING_SCRIPT} --data MNIST_DIR --split {args.split} "
                f"--train-count {args.train_count} --epochs {args.epochs} --seed {args.seed}"
            ),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "non_digits": args.non_digits,
            "outliers_per_batch": args.outliers
            // max(len(args.non_digits.split(",")), 1)
            * len([k for k in args.non_digits.split(",") if k]),
            "outlier_weight": args.outlier_weight,
            "seed": args.seed,
            "seconds": round(seconds),
            "torch": torch.__version__,
        },
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(out.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="MNIST folder (IDX files)")
    parser.add_argument("--split", default="test", choices=("test", "train"))
    parser.add_argument("--train-count", type=int, default=9000, help="first N digits train")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--outliers", type=int, default=48, help="non-digits per batch")
    parser.add_argument(
        "--non-digits",
        default="noise,blobs",
        help="kinds of made-up non-digits shown with a uniform target (comma-separated; "
        "empty: none)",
    )
    parser.add_argument("--outlier-weight", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(CLASSIFIER_FILE), help="weights file (.safetensors)")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
