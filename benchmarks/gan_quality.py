"""GAN quality for a fixed CPU budget: train with the CLI, then FID/KID with ``img2img eval``.

    python benchmarks/gan_quality.py [--minutes 12] [--generate 2000] [--real 0] [--only cifar10]
        [--tag ebgan -- --objective ebgan]

Two setups, each trained by ``img2img train --task gan`` for ``--minutes`` of wall time
(the run is then stopped with Ctrl-C, which the Trainer turns into a clean final checkpoint):

- ``cifar10``: unconditional DCGAN at 32 px on ../shared/data/cifar10-test (10k images);
- ``mnist``: class-conditional DCGAN at 28 px on ../shared/data/mnist (the 10k t10k images,
  the only split there, so the GAN trains on them);
- ``mnist32``: unconditional at 32 px with cifar10's widths, for comparing variants.

Flags after ``--`` reach ``img2img train`` (``-- --objective ebgan``, ``-- --diffaugment
color,translation,cutout``); ``--tag`` names the variant's run folder (``mnist32-ebgan``).

Then ``img2img eval --metrics fid,kid --generate N --real M`` compares N generated samples
with M of the training images (0: all; class-conditional models draw labels in the data's
class proportions: Inception runs at a few images/s on a busy 2-core CPU), and
the script prints iterations, training images/s and FID/KID. FID is biased upwards at small
N: a 2000-sample FID is not comparable to published 10k/50k-sample figures (CIFAR-10:
DCGAN ~43, WGAN-GP ~20, SNGAN ~18), only to other FIDs with the same N and real set.
Run it with ``nice -n 5`` on a shared machine; ``--skip-train`` evaluates existing runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

SETUPS: dict[str, list[str]] = {
    # Half DCGAN's widths: on a shared 2-core CPU the full nets manage ~0.4 it/s, too few
    # iterations for any budget of minutes.
    "cifar10": [
        "--data",
        str(DATA / "cifar10-test"),
        "--image-size",
        "32",
        "--ngf",
        "32",
        "--ndf",
        "32",
    ],
    "mnist": ["--data", str(DATA / "mnist"), "--conditional"],
    # Unconditional at 32 px with the cifar10 widths: the setup of the DCGAN / EBGAN /
    # DiffAugment comparison (issue 16), where every variant gets the same nets and minutes.
    "mnist32": ["--data", str(DATA / "mnist"), "--image-size", "32", "--ngf", "32", "--ndf", "32"],
}
# Shared by both: DCGAN defaults (non-saturating loss, Adam 2e-4 (0.5, 0.999), batch 64) with
# an EMA of the generator's weights, which is what gets sampled.
COMMON = ["--ema", "0.995", "--epochs", "10000", "--log-every", "50", "--save-every", "500"]


def train_command(name: str, out: Path, extra: list[str]) -> list[str]:
    return [
        *("img2img", "train", "--task", "gan"),
        *SETUPS[name],
        *COMMON,
        *extra,
        *("--out", str(out)),
    ]


def train(command: list[str], minutes: float) -> float:
    """Run ``command`` (an img2img CLI call) for ``minutes``, then stop it as Ctrl-C does;
    returns the wall time in seconds."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", *command])
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.wait()
    if process.returncode not in (0, -signal.SIGINT):
        raise SystemExit(f"training failed ({process.returncode}): {' '.join(command)}")
    return time.perf_counter() - start


def training_figures(out: Path) -> dict[str, float]:
    """Iterations and images/s of the run, from the last record of its losses.jsonl."""
    records = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    from img2img.saved_models import read_config

    config = read_config(out)
    last = records[-1]
    return {
        "iterations": last["step"],
        "epochs": last["epoch"] + 1,
        "train_seconds": last["time"],
        "images_per_second": last["step"] * config["batch_size"] / last["time"],
    }


def evaluate(out: Path, name: str, generate: int, real: int) -> dict:
    data = SETUPS[name][1]
    command = ["img2img", "eval", "--model", str(out), "--data", data, "--metrics", "fid,kid"]
    command += ["--generate", str(generate), "--real", str(real)]
    subprocess.run([sys.executable, "-m", *command], check=True)
    return json.loads((out / f"eval-{Path(data).name}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per setup")
    parser.add_argument("--generate", type=int, default=2000, help="generated samples for FID")
    parser.add_argument("--real", type=int, default=0, help="real images for FID (0: all 10k)")
    parser.add_argument("--only", choices=sorted(SETUPS), help="run one setup")
    parser.add_argument("--out", default="runs/gan_quality", help="parent of the run folders")
    parser.add_argument("--skip-train", action="store_true", help="evaluate existing runs")
    parser.add_argument("--skip-eval", action="store_true", help="train only")
    parser.add_argument("--tag", default="", help="variant name: runs in OUT/SETUP-TAG")
    parser.add_argument("train_flags", nargs="*", help="extra flags for img2img train (after --)")
    args = parser.parse_args()

    for name in [args.only] if args.only else list(SETUPS):
        out = Path(args.out) / (f"{name}-{args.tag}" if args.tag else name)
        command = train_command(name, out, args.train_flags)
        if not args.skip_train:
            print(f"$ {' '.join(command)}  # stopped after {args.minutes} min", flush=True)
            wall = train(command, args.minutes)
            print(f"{out.name}: trained for {wall:.0f} s wall", flush=True)
        figures = training_figures(out)
        print(
            f"{out.name}: {figures['iterations']} iterations (into epoch {figures['epochs']}) in "
            f"{figures['train_seconds']:.0f} s, {figures['images_per_second']:.1f} training "
            "images/s",
            flush=True,
        )
        if args.skip_eval:
            continue
        summary = evaluate(out, name, args.generate, args.real)
        metrics, kid = summary["metrics"], summary["metrics"]["kid"]
        print(
            f"{out.name}: FID {metrics['fid']:.2f}, KID {kid['mean']:.4f} +- {kid['std']:.4f} "
            f"({summary['generated']} samples vs {summary['images']} real images; "
            f"eval {summary['seconds']:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
