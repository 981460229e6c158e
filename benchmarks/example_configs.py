"""Training speed of the example configs (examples/configs/*.yaml) on this machine.

    python benchmarks/example_configs.py [--data-root data] [--seconds 60] [--device cpu]
        [--threads N] [--set KEY=VALUE ...] [NAME ...]

Each config is trained as ``img2img train --config FILE`` would train it (its dataset, task
and data loader; the run directory is a temporary folder), for ``--seconds`` after one
warm-up iteration, and its images/s and seconds per iteration are printed: what a laptop
user buys per CPU-minute with those settings. A config's ``data: data/NAME`` is read from
``--data-root``/NAME. Figures depend on the machine and on what else runs on it: report the
load average beside them. ``--set disc_start=0`` measures an autoencoder with its
discriminator on from the first iteration; any option may be set so. On a machine shared
with other jobs, ``--threads 1`` (as ``OMP_NUM_THREADS=1``) avoids the many-fold slowdown
of torch threads competing for cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import yaml

from img2img.config import load_yaml, merge
from img2img.precision import autocast
from img2img.tasks import get_task
from img2img.train import Trainer, data_loader

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"


def config_for(path: Path, data_root: Path, out: Path, device: str, changes: dict | None = None):
    """The config ``img2img train --config path --data ... --out out`` resolves, with
    ``changes`` (option: value) on top."""
    values = load_yaml(path)
    data = Path(values["data"])
    values["data"] = str(data_root / data.relative_to(data.parts[0]))
    task = get_task(values.get("task", ""))
    return merge(task.Config, values, {"out": str(out), "device": device, **(changes or {})})


def measure(config, seconds: float) -> tuple[int, float]:
    """(iterations, seconds) of training after one warm-up iteration."""
    trainer = Trainer(config)
    loader, sampler = data_loader(trainer.dataset, config, trainer.device)
    iterations, start, epoch = -1, 0.0, 0
    while True:
        sampler.set_epoch(epoch, 0)
        for batch in loader:
            batch.pop("skipped", None)
            with autocast(trainer.device, trainer.dtype):
                trainer.task.step(batch)
            iterations += 1
            if iterations == 0:
                start = time.perf_counter()
            elif time.perf_counter() - start >= seconds:
                return iterations, time.perf_counter() - start
        epoch += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="config names (default: all)")
    parser.add_argument("--data-root", default="data", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE (YAML value)")
    args = parser.parse_args()
    changes = {}
    for item in args.set:
        key, _, value = item.partition("=")
        changes[key.replace("-", "_")] = yaml.safe_load(value)
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(CONFIGS.glob("*.yaml"))
    if args.names:
        paths = [CONFIGS / f"{name.removesuffix('.yaml')}.yaml" for name in args.names]
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            config = config_for(path, args.data_root, Path(tmp) / "run", args.device, changes)
            iterations, elapsed = measure(config, args.seconds)
        images = iterations * config.batch_size
        print(
            f"{path.stem:28s} {' '.join(args.set):14s} {images / elapsed:7.2f} images/s  "
            f"{elapsed / iterations:6.2f} s/iteration  ({iterations} iterations of "
            f"{config.batch_size}, {elapsed:.0f} s)",
            flush=True,
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
