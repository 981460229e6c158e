"""VQGAN's bottlenecks, with and without the adversarial term, on one budget.

    python benchmarks/vqgan_quality.py [--data DIR] [--steps 400] [--test-images 500]
        [--only vq,ema,kl] [--metrics psnr,ssim,lpips,fid,kid] [--out runs/vqgan_quality]

Trains ``img2img train --task vqgan --preset small`` six times on the same images for the
same number of iterations: ``--quantizer vq`` (codebook loss), ``ema`` (EMA codebook with
dead-code restart) and ``kl`` (the latent-diffusion KL autoencoder), each once with the
adversarial term from half of the run (``--disc-start steps/2``, adaptive weight) and once
without it (the discriminator never starts). Then ``img2img eval`` measures the
reconstructions of the held-out images: PSNR/SSIM (pixel fidelity), LPIPS where its weights
are, rFID/KID (how natural the reconstructions look as a set), codebook usage and
perplexity. The adversarial term is expected to lower rFID at some cost in PSNR.

``--data`` is a folder with train/ and test/ (default: ../shared/data/cifar10-test, split
here into every tenth image for test and the rest for training, by symlinks in the output
folder). A fixed iteration count, not wall time, so that a busy machine changes how long
the script takes, not its figures. Prints a table and writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-test"
QUANTIZERS = ("vq", "ema", "kl")
COLUMNS = ("psnr", "ssim", "lpips", "fid", "kid", "codebook_usage", "perplexity")


def split_every_tenth(source: Path, out: Path, test_images: int) -> Path:
    """``out/train`` and ``out/test`` as symlinks to the images under ``source``: every
    tenth file (sorted) is a test image, up to ``test_images`` of them."""
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)
    tests = 0
    for index, path in enumerate(files):
        is_test = index % 10 == 0 and tests < test_images
        tests += is_test
        link = out / ("test" if is_test else "train") / f"{path.parent.name}_{path.name}"
        if not link.exists():
            link.symlink_to(path.resolve())
    return out


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "img2img", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="folder with train/ and test/")
    parser.add_argument("--steps", type=int, default=400, help="iterations per model")
    parser.add_argument("--test-images", type=int, default=500, help="held-out images (CIFAR)")
    parser.add_argument("--only", default=",".join(QUANTIZERS), help="quantizers to compare")
    parser.add_argument("--metrics", default="psnr,ssim,lpips,fid,kid")
    parser.add_argument("--out", type=Path, default=Path("runs/vqgan_quality"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = args.data or split_every_tenth(CIFAR, args.out / "data", args.test_images)
    results = []
    for quantizer in args.only.split(","):
        for adversarial in (False, True):
            name = f"{quantizer}{'+gan' if adversarial else ''}"
            out = args.out / name
            disc_start = args.steps // 2 if adversarial else args.steps + 1
            start = time.perf_counter()
            run(
                "train", "--task", "vqgan", "--preset", "small", "--quantizer", quantizer,
                "--data", str(data), "--out", str(out), "--max-steps", str(args.steps),
                "--disc-start", str(disc_start), "--device", args.device, "--num-workers", "0",
                "--log-every", "50", "--save-every", str(args.steps),
            )  # fmt: skip
            seconds = time.perf_counter() - start
            run(
                "eval", "--model", str(out), "--data", str(data), "--metrics", args.metrics,
                "--device", args.device, "--out", str(out),
            )  # fmt: skip
            summary = json.loads((out / f"eval-{Path(data).resolve().name}.json").read_text())
            metrics = summary["metrics"]
            if isinstance(metrics.get("kid"), dict):
                metrics["kid"] = metrics["kid"]["mean"]
            results.append({"model": name, "train_seconds": round(seconds), **metrics})
    header = f"{'model':<8}" + "".join(f"{c:>15}" for c in COLUMNS)
    print(f"\n{args.steps} iterations each, {summary['images']} test images")
    print(header)
    for row in results:
        cells = "".join(
            f"{row[c]:>15.4f}" if isinstance(row.get(c), float) else f"{'-':>15}" for c in COLUMNS
        )
        print(f"{row['model']:<8}{cells}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
