"""Training speed of pix2pix (UNet-256 + 70x70 PatchGAN, batch 1) or CycleGAN (two
ResNet-9 + two 70x70 PatchGANs, LSGAN + cycle + identity, batch 1) on this machine.

    python benchmarks/train_speed.py [--task pix2pix|cyclegan] [--size 256] [--batch 1]
        [--iters 5] [--device cpu] [--precision fp32] [--processes N] [--channels-last]
        [--compile] [--workers 2] [--data DIR] [--data-batches 20] [--no-yardstick]

Prints seconds per training iteration, images/s and peak memory for img2img's task and,
when the shared yardstick (../shared/bench/bench_ref.py, a plain eager implementation of
the same networks) is present, its figure from the same machine and the ratio. Absolute
figures differ between machines; the ratio is what to compare.

It also times the data pipeline alone (the Trainer's DataLoader over the task's training
set: decoding, resizing, cropping, in ``--workers`` processes), in images/s, next to the
model's images/s: when the pipeline is not well ahead, training waits for data. ``--data``
defaults to ../shared/data/facades for pix2pix and to generated 256 px JPEGs otherwise.

``--processes N`` instead compares data-parallel training with one process: the task's
steps in one process (all CPU threads), then in N processes launched by torchrun (gloo on
the CPU, nccl with ``--device cuda``; the threads split between them), each with ``--batch``
images, and prints the images/s of both and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from img2img.config import merge
from img2img.distributed import Replicas, World, shutdown
from img2img.precision import PRECISIONS, autocast, setup_task_precision
from img2img.speedups import compile_networks, use_channels_last
from img2img.tasks import get_task
from img2img.train import data_loader

YARDSTICK = Path(__file__).resolve().parents[2] / "shared" / "bench" / "bench_ref.py"
FACADES = Path(__file__).resolve().parents[2] / "shared" / "data" / "facades"


def time_img2img(
    name: str,
    size: int,
    batch: int,
    iters: int,
    device: torch.device,
    precision: str = "fp32",
    world: World | None = None,
    channels_last: bool = False,
    compile: bool = False,
) -> float:
    """Seconds per training iteration (in each process, when ``world`` has several)."""
    world = world or World(device)
    task_cls = get_task(name)
    config = merge(task_cls.Config, {"image_size": size, "batch_size": batch, "data": "-"})
    torch.manual_seed(0)
    task = task_cls(config, total_steps=1000, decay_steps=500, device=device)
    replicas = Replicas(task, world)
    dtype = setup_task_precision(task, precision, device)
    if channels_last:
        use_channels_last(task)
    if compile:
        compile_networks(task)
    keys = ("A", "B") if name == "cyclegan" else ("input", "target")
    data = {key: torch.rand(batch, 3, size, size) * 2 - 1 for key in keys}

    def step() -> None:
        with autocast(device, dtype), replicas.active():
            task.step(data)

    warm_up = time.perf_counter()
    for _ in range(2):  # warm-up: allocator, kernel selection, compilation
        step()
    world.barrier()
    if compile:
        print(f"compilation and 2 warm-up iterations: {time.perf_counter() - warm_up:.1f} s")
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def synthetic_data(root: Path, name: str, count: int = 64, size: int = 256) -> Path:
    """``count`` JPEGs (quality 90) of ``size`` px in the layout task ``name`` reads: A|B
    pairs for pix2pix, trainA/ and trainB/ for CycleGAN. Colour ramps plus noise."""
    rng = np.random.default_rng(0)
    folders = [root / "trainA", root / "trainB"] if name == "cyclegan" else [root / "train"]
    width = size if name == "cyclegan" else 2 * size
    ramp = np.linspace(0, 255, width)[None, :, None]
    for folder in folders:
        folder.mkdir(parents=True)
        for i in range(count):
            noise = rng.normal(0, 20, (size, width, 3))
            pixels = np.clip(ramp * rng.uniform(0.2, 1, 3) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.jpg", quality=90)
    return root


def time_pipeline(
    name: str, data: Path, size: int, batch: int, workers: int, batches: int
) -> tuple[float, float]:
    """(seconds to the first batch, images/s after it) of the Trainer's DataLoader alone."""
    task_cls = get_task(name)
    values = {"data": str(data), "image_size": size, "batch_size": batch, "num_workers": workers}
    config = merge(task_cls.Config, values)
    loader, sampler = data_loader(task_cls.dataset(config, "train"), config, torch.device("cpu"))
    sampler.set_epoch(0)
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter()
    for _ in range(batches):
        try:
            next(iterator)
        except StopIteration:  # a small data set: go on with the next epoch
            sampler.set_epoch(sampler.epoch + 1)
            iterator = iter(loader)
            next(iterator)
    return first - start, batches * batch / (time.perf_counter() - first)


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


def data_parallel_worker(args: argparse.Namespace) -> None:
    """One of the processes torchrun starts for :func:`compare_data_parallel`."""
    torch.set_num_threads(args.threads)
    world = World.from_environment(torch.device(args.device))
    seconds = time_img2img(
        args.task, args.size, args.batch, args.iters, world.device, args.precision, world
    )
    if world.is_main:
        print(f"s_per_iter={seconds}")
    shutdown()


def compare_data_parallel(args: argparse.Namespace) -> None:
    """Images/s of ``args.processes`` processes under torchrun (same batch in each, the CPU
    threads shared out between them) against one process with all the threads and with
    one process's share of them (which separates DDP's cost from the threads' scaling)."""
    cores = os.cpu_count() or 1
    share = max(1, cores // args.processes)
    device = torch.device(args.device)

    def one_process(threads: int) -> float:
        torch.set_num_threads(threads)
        return min(
            time_img2img(args.task, args.size, args.batch, args.iters, device, args.precision)
            for _ in range(args.rounds)
        )

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(args.processes), __file__, "--worker"]
    command += ["--threads", str(share)]
    for name in ("task", "size", "batch", "iters", "device", "precision"):
        command += [f"--{name}", str(getattr(args, name))]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}

    def many_processes() -> float:
        output = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        return float(output.stdout.split("s_per_iter=")[1].split()[0])

    rows = [
        (f"1 process, threads={cores}", 1, one_process(cores)),
        (f"1 process, threads={share}", 1, one_process(share)),
        (
            f"{args.processes} processes (DDP), threads={share} each",
            args.processes,
            min(many_processes() for _ in range(args.rounds)),
        ),
    ]
    print(
        f"{args.task} size={args.size} batch={args.batch} per process, device {args.device}, "
        f"precision {args.precision}"
    )
    baseline = args.batch / rows[0][2]
    for label, processes, seconds in rows:
        speed = args.batch * processes / seconds
        print(
            f"  {label:<36} {seconds:.3f} s/iteration, {speed:.2f} images/s "
            f"({speed / baseline:.2f}x)"
        )


def report_pipeline(args: argparse.Namespace, model_images_per_second: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None and args.task == "pix2pix" and FACADES.is_dir():
            data = FACADES
        if data is None:
            data = synthetic_data(Path(scratch), args.task)
        startup, rate = time_pipeline(
            args.task, data, args.size, args.batch, args.workers, args.data_batches
        )
    bound = "data-bound" if rate < model_images_per_second else "model-bound"
    print(
        f"data pipeline ({data.name}, {args.workers} persistent workers): {rate:.1f} images/s, "
        f"{startup:.2f} s to the first batch; the model takes {model_images_per_second:.2f} "
        f"images/s: {bound}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pix2pix", choices=("pix2pix", "cyclegan"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--channels-last", action="store_true", help="channels-last weights")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--data", type=Path, help="data set for the pipeline timing")
    parser.add_argument("--data-batches", type=int, default=20, help="batches timed (0: none)")
    parser.add_argument(
        "--yardstick",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the plain eager yardstick (CPU only)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="compare data-parallel training in this many processes (torchrun) with one",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternate img2img and yardstick this many times (noise control)",
    )
    args = parser.parse_args()
    if args.worker:
        return data_parallel_worker(args)
    if args.processes > 1:
        return compare_data_parallel(args)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    levers = {"channels_last": args.channels_last, "compile": args.compile}
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(
            time_img2img(
                args.task, args.size, args.batch, args.iters, device, args.precision, **levers
            )
        )
        if device.type == "cpu" and args.yardstick:
            reference = time_yardstick(args.task, args.size, args.batch, args.iters)
            if reference is not None:
                theirs.append(reference)
    best = min(ours)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chosen = "".join(f" {name.replace('_', '-')}" for name, on in levers.items() if on)
    print(
        f"img2img {args.task} size={args.size} batch={args.batch} precision={args.precision}"
        f"{chosen}: {best:.3f} s/iteration, "
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
    if args.data_batches:
        report_pipeline(args, args.batch / best)


if __name__ == "__main__":
    main()
