"""Training speed of pix2pix (UNet-256 + 70x70 PatchGAN, batch 1) or CycleGAN (two
ResNet-9 + two 70x70 PatchGANs, LSGAN + cycle + identity, batch 1) on this machine.

    python benchmarks/train_speed.py [--task pix2pix|cyclegan] [--size 256] [--batch 1]
        [--iters 5] [--device cpu] [--precision fp32]

Prints seconds per training iteration, images/s and peak memory for img2img's task and,
when the shared yardstick (../shared/bench/bench_ref.py, a plain eager implementation of
the same networks) is present, its figure from the same machine and the ratio. Absolute
figures differ between machines; the ratio is what to compare.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from img2img.config import merge
from img2img.precision import PRECISIONS, autocast, setup_task_precision
from img2img.tasks import get_task

YARDSTICK = Path(__file__).resolve().parents[2] / "shared" / "bench" / "bench_ref.py"


def time_img2img(
    name: str, size: int, batch: int, iters: int, device: torch.device, precision: str = "fp32"
) -> float:
    task_cls = get_task(name)
    config = merge(task_cls.Config, {"image_size": size, "batch_size": batch, "data": "-"})
    torch.manual_seed(0)
    task = task_cls(config, total_steps=1000, decay_steps=500, device=device)
    dtype = setup_task_precision(task, precision, device)
    keys = ("A", "B") if name == "cyclegan" else ("input", "target")
    data = {key: torch.rand(batch, 3, size, size) * 2 - 1 for key in keys}

    def step() -> None:
        with autocast(device, dtype):
            task.step(data)

    for _ in range(2):  # warm-up: allocator and kernel selection
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def time_yardstick(name: str, size: int, batch: int, iters: int) -> float | None:
    if not YARDSTICK.exists():
        return None
    result = subprocess.run(
        [
            sys.executable,
            str(YARDSTICK),
            name,
            "--size",
            str(size),
            "--batch",
            str(batch),
            "--iters",
            str(iters),
        ],
        capture_output=True,
        text=True,
        cwd=YARDSTICK.parent,
        check=True,
    )
    return float(result.stdout.split("s_per_iter=")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pix2pix", choices=("pix2pix", "cyclegan"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternate img2img and yardstick this many times (noise control)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(
            time_img2img(args.task, args.size, args.batch, args.iters, device, args.precision)
        )
        if device.type == "cpu":
            reference = time_yardstick(args.task, args.size, args.batch, args.iters)
            if reference is not None:
                theirs.append(reference)
    best = min(ours)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"img2img {args.task} size={args.size} batch={args.batch} precision={args.precision}: "
        f"{best:.3f} s/iteration, "
        f"{args.batch / best:.2f} images/s, peak RSS {peak_mib:.0f} MiB"
        + (
            f", peak CUDA {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
            if device.type == "cuda"
            else ""
        )
    )
    if theirs:
        print(
            f"yardstick (plain eager) : {min(theirs):.3f} s/iteration; "
            f"img2img / yardstick = {best / min(theirs):.2f} (below 1 is faster)"
        )


if __name__ == "__main__":
    main()
