"""Quality of a paired-translation model on a test split: mean L1 and PSNR against targets.

    python benchmarks/paired_eval.py --model facades-label2photo --data ../shared/data/facades

Uses the model's own config (direction, image size) and the dataset's test split (val if
there is no test), without augmentation; prints per-split means and inference speed. L1 is
in [0, 1] pixel units; PSNR is on RGB in [0, 1]. (FID/KID and `img2img eval` come with the
metrics module.)
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from img2img.infer import load
from img2img.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    translator = load(args.model, device=args.device)
    config = dataclasses.replace(translator.config, data=args.data)
    dataset = get_task(config.task).dataset(config, "test")
    if dataset is None:
        raise SystemExit(f"{args.data}: no test or val split")
    l1, psnr, seconds = [], [], 0.0
    for i in range(len(dataset)):
        item = dataset[i]
        start = time.perf_counter()
        output = translator.translate_tensor(item["input"][None])[0]
        seconds += time.perf_counter() - start
        error = (output.clamp(-1, 1) - item["target"]) / 2  # [0, 1] units
        l1.append(float(error.abs().mean()))
        psnr.append(float(-10 * torch.log10(error.pow(2).mean())))
    count = len(dataset)
    print(
        f"{args.model} on {args.data} test ({count} images, {config.direction}, "
        f"{config.image_size}px): L1 {sum(l1) / count:.4f}, PSNR {sum(psnr) / count:.2f} dB, "
        f"{seconds / count * 1000:.0f} ms/image on {args.device}"
    )


if __name__ == "__main__":
    main()
