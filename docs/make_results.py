"""Make the result pictures of the README and the docs from the shipped models (``docs/results/``).

    python docs/make_results.py [--data DATA_ROOT] [--inpaint-l2 runs/inpaint-64-l2] \
        [--pix2pix-same-budget runs/facades-pix2pix256]

Every picture is the toolkit's own output on held-out data: the facades test split (label
map | pix2pix | CycleGAN | real photo), Set5 at x4 (PIL-bicubic LR, as ``img2img eval``
makes it, shown nearest-upscaled | bicubic | the SR models | HR), the same label maps
through pix2pix and pix2pixHD trained for the same CPU minutes, GAN samples, and facades
test photos with centre holes (input with the hole in white | OpenCV Telea | the L2-only
network | ``facades-inpaint-center`` | original, the holes ``img2img eval`` measures). A
model missing from ``weights/`` is left out of its picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from img2img.images import load_image, to_tensor
from img2img.infer import load
from img2img.reporting import save_grid
from img2img.sampling import write_sample_files
from img2img.saved_models import WEIGHTS_DIR

OUT = Path(__file__).resolve().parent / "results"
FACADES = ("1.jpg", "27.jpg", "63.jpg")
SET5 = ("butterfly", "bird")
INPAINT = "facades-inpaint-center"


def shipped(name: str) -> bool:
    return (WEIGHTS_DIR / name / "config.json").is_file()


def facades_test_pairs(data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(label maps, photos) of the :data:`FACADES` test pairs, each (3, 3, 256, 256)."""
    photos, labels = [], []
    for name in FACADES:
        pair = to_tensor(load_image(data / "facades" / "test" / name))[0]
        photos.append(pair[..., : pair.shape[-1] // 2])
        labels.append(pair[..., pair.shape[-1] // 2 :])
    return torch.cat(labels), torch.cat(photos)


def facades_figure(data: Path) -> None:
    label, photo = facades_test_pairs(data)
    columns = [label]
    if shipped("facades-label2photo"):
        columns.append(load("facades-label2photo", "cpu").translate_tensor(label))
    if shipped("facades-label2photo-cyclegan"):
        cyclegan = load("facades-label2photo-cyclegan", "cpu", direction="AtoB")
        columns.append(cyclegan.translate_tensor(label))
    save_grid([*columns, photo], OUT / "facades.jpg")


def pix2pixhd_figure(data: Path, pix2pix_run: Path | None) -> None:
    """label map | pix2pix trained for the same CPU minutes (when ``pix2pix_run``, the
    rival run of the model's card, is given) | ``facades-pix2pixhd`` | real photo."""
    if not shipped("facades-pix2pixhd"):
        return
    label, photo = facades_test_pairs(data)
    columns = [label]
    if pix2pix_run is not None:
        columns.append(load(pix2pix_run, "cpu").translate_tensor(label))
    columns += [load("facades-pix2pixhd", "cpu").translate_tensor(label), photo]
    save_grid(columns, OUT / "pix2pixhd.jpg")


def sr_figure(data: Path) -> None:
    rows = []
    for name in SET5:
        path = next((data / "sr" / "Set5").glob(f"{name}*"))
        hr = load_image(path).convert("RGB")
        size = (hr.width // 4 * 4, hr.height // 4 * 4)
        hr = hr.crop((0, 0, *size))
        lr = hr.resize((size[0] // 4, size[1] // 4), Image.BICUBIC)
        x = to_tensor(lr)[0]
        row = [
            F.interpolate(x, scale_factor=4, mode="nearest"),
            to_tensor(lr.resize(size, Image.BICUBIC))[0],
        ]
        row += [load(m, "cpu").translate_tensor(x) for m in ("sr-x4", "srgan-x4") if shipped(m)]
        rows.append([*row, to_tensor(hr)[0]])
    side = min(min(t.shape[-2:]) for row in rows for t in row)
    columns = [torch.cat([row[k][..., :side, :side] for row in rows]) for k in range(len(rows[0]))]
    save_grid([c.clamp(-1, 1) for c in columns], OUT / "sr.jpg")


def inpaint_figure(data: Path, l2_run: Path | None) -> None:
    """Centre holes (the paper's setting) of facades test photos: input | Telea | the
    L2-only network (when ``l2_run``, its card's baseline run, is given) | the shipped
    model | original."""
    if not shipped(INPAINT):
        return
    from dataclasses import replace

    from img2img.metrics.inpainting import telea
    from img2img.tasks import get_task

    model = load(INPAINT, "cpu")
    config = replace(model.config, data=str(data / "facades"))
    test = get_task(config.task).dataset(config, "test")
    items = [test[i] for i in range(0, 40, 8)]
    image = torch.stack([item["target"] for item in items])
    mask = torch.stack([item["mask"] for item in items])
    holed = torch.where(mask.bool(), torch.ones_like(image), image)
    filled = torch.cat([telea(image[i : i + 1], mask[i : i + 1]) for i in range(len(items))])
    columns = [holed, filled]
    if l2_run is not None:
        columns.append(load(l2_run, "cpu").inpaint_tensor(image, mask))
    columns += [model.inpaint_tensor(image, mask), image]
    big = [F.interpolate(c, scale_factor=2, mode="nearest") for c in columns]
    save_grid(big, OUT / "inpaint.jpg")


def gan_figures() -> None:
    for name in ("mnist-dcgan", "cifar10-gan"):
        if shipped(name):
            write_sample_files(name, OUT / f"{name}.png", n=40, interpolations=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data")
    parser.add_argument(
        "--inpaint-l2", type=Path, help="the L2-only inpainting run of the model's card"
    )
    parser.add_argument(
        "--pix2pix-same-budget", type=Path, help="the pix2pix run of pix2pixHD's card"
    )
    args = parser.parse_args()
    facades_figure(args.data)
    pix2pixhd_figure(args.data, args.pix2pix_same_budget)
    sr_figure(args.data)
    gan_figures()
    inpaint_figure(args.data, args.inpaint_l2)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir()))} to {OUT}")


if __name__ == "__main__":
    main()
