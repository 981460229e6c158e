"""Speed of the FID/KID machinery on this machine, on each inference engine.

    python benchmarks/metrics_speed.py [--count 10000] [--device cpu] [--batch-size 64]
                                       [--engines torch,onnxruntime]

Prints, per engine (img2img.engines), images/s of Inception-v3 feature extraction (32x32
images, resized to 299 as FID does) and the wall time of a full FID of COUNT vs COUNT
images: the features of both sets plus the float64 statistics and matrix square root; then
how far the engines' FIDs differ. The images are CIFAR-10 test images from
../shared/data/cifar10-test when present, else random 32x32 images; the time does not
depend on their content. Features are not cached (use_cache=False), so this measures work;
the first use of the onnxruntime engine exports the network once (not timed here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from img2img.metrics.distances import fid_from_features, kid_from_features
from img2img.metrics.inception_features import InceptionFeatures

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-test"


def load_images(count: int) -> tuple[torch.Tensor, str]:
    files = sorted(CIFAR.glob("*/*.jpg"))[:count] if CIFAR.is_dir() else []
    if len(files) >= count:
        from img2img.images import load_image, pil_to_tensor

        images = torch.stack([pil_to_tensor(load_image(f)) for f in files])
        return images, f"CIFAR-10 test ({CIFAR})"
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, 3, 32, 32, generator=generator) * 2 - 1, "random"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000, help="images per set")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--engines", default="torch,onnxruntime", help="comma-separated")
    args = parser.parse_args()

    images, source = load_images(args.count)
    fake_images = (images + 0.1 * torch.randn_like(images)).clamp(-1, 1)
    print(f"torch threads {torch.get_num_threads()}, images: {source}")
    fids = {}
    for engine in args.engines.split(","):
        extractor = InceptionFeatures(device=args.device, engine=engine)
        extractor(images[:2])  # warm-up: TorchScript optimises on the first calls
        if extractor.device.type == "cuda":
            torch.cuda.synchronize()

        def features(batch: torch.Tensor, extractor: InceptionFeatures = extractor) -> np.ndarray:
            chunks = torch.split(batch, args.batch_size)
            return extractor.extract(chunks, total=len(batch), desc="features")

        start = time.perf_counter()
        real = features(images)
        extract_seconds = time.perf_counter() - start
        fake = features(fake_images)
        fid_start = time.perf_counter()
        fids[engine] = fid_from_features(real, fake)
        fid_math = time.perf_counter() - fid_start
        full_fid = fid_start - start + fid_math
        kid_start = time.perf_counter()
        kid_value = kid_from_features(real, fake)
        kid_math = time.perf_counter() - kid_start
        print(
            f"[{engine} on {extractor.device}] Inception features, {args.count} 32x32 images: "
            f"{extract_seconds:.1f} s, {args.count / extract_seconds:.1f} images/s"
        )
        print(
            f"[{engine}] FID {args.count} vs {args.count} (features of both sets + statistics): "
            f"{full_fid:.1f} s wall (FID maths alone {fid_math:.2f} s); FID(clean, noise 0.05) "
            f"= {fids[engine]:.4f}"
        )
        print(
            f"[{engine}] KID maths ({args.count} vs {args.count}, 100 subsets): {kid_math:.2f} s;"
            f" KID = {kid_value.mean:.4f} +- {kid_value.std:.4f}"
        )
    if len(fids) > 1:
        values = list(fids.values())
        spread = (max(values) - min(values)) / max(abs(min(values)), 1e-12)
        print(f"FID across engines differs by {100 * spread:.4f}%")


if __name__ == "__main__":
    main()
