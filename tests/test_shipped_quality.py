"""Each shipped model beats its trivial baseline on its own data, so an untrained (or wrongly
trained) weights file cannot ship.

- sr-x4, srgan-x4: Set5 x4 PSNR on Y (4 px shaved) above PIL bicubic by a stated margin
  (the SRResNet with ``bicubic_residual`` starts *at* torch bicubic, ~0.2 dB above PIL's,
  so the margins are well above that).
- mnist-dcgan, cifar10-gan, cifar10-hinge: samples closer to the real images than an
  untrained generator's, by a Fréchet distance between pixel statistics (images
  average-pooled over 4x4 blocks): cheap enough for every test run, and a generator that
  draws noise or grey is far off.
- facades-label2photo (pix2pix), its CycleGAN and facades-pix2pixhd: on six test images,
  outputs closer to the true images than an untrained generator of the same config gives,
  by L1 and by a Fréchet distance between colour statistics.
- facades-inpaint-*: hole error below the mean pixel's, and above OpenCV Telea's PSNR.
- cifar10-vq-f4, cifar10-kl-f4: reconstruction PSNR of held-out CIFAR-10 images above a
  bound measured when shipped.

Every check skips, saying why, when the real data set is absent (see tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require_shared
from PIL import Image

from img2img.checkpoint import load_model_files, save_model
from img2img.config import merge
from img2img.images import pil_to_tensor
from img2img.infer import load
from img2img.saved_models import WEIGHTS_DIR
from img2img.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) of two (N, D) samples. The trace of
    the square root is the sum of the square roots of the eigenvalues of S_a S_b (real and
    >= 0 in exact arithmetic; rounding noise is clipped)."""
    mu = a.mean(0) - b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_trace = np.sqrt(np.linalg.eigvals(s_a @ s_b).real.clip(min=0)).sum()
    return float(mu @ mu + np.trace(s_a) + np.trace(s_b) - 2 * root_trace)


def shipped(name: str) -> Path:
    path = WEIGHTS_DIR / name
    if not path.is_dir():
        pytest.skip(f"shipped model {name} not found in {WEIGHTS_DIR}")
    return path


def untrained_task(name: str, **overrides):
    """(config, task) for the shipped model's config with freshly initialised weights, as
    a training run would start."""
    values, _ = load_model_files(shipped(name))
    recipe = get_task(values["task"])
    config = merge(recipe.Config, {**values, "device": "cpu", **overrides})
    torch.manual_seed(0)
    return config, recipe(config, total_steps=1, decay_steps=0, device=CPU)


# ----------------------------------------------------------------------------------------
# Super-resolution: above bicubic on Set5


@pytest.mark.parametrize(("name", "margin_db"), [("sr-x4", 1.5), ("srgan-x4", 0.8)])
def test_sr_models_beat_bicubic_on_set5(name: str, margin_db: float) -> None:
    from img2img.metrics.evaluate import evaluate

    set5 = require_shared("sr", "Set5")
    summary = evaluate(shipped(name), set5, ["psnr"], device="cpu", progress=False).summary
    assert summary["images"] == 5
    model, bicubic = summary["metrics"]["psnr_y"], summary["bicubic"]["psnr_y"]
    assert bicubic == pytest.approx(28.43, abs=0.1)
    assert model > bicubic + margin_db, (model, bicubic)


# ----------------------------------------------------------------------------------------
# GANs: samples nearer the data than an untrained generator's


@pytest.mark.parametrize(
    ("name", "data", "bound"),
    [
        ("mnist-dcgan", "mnist", 5.0),  # 0.6 when shipped
        ("cifar10-gan", "cifar10-test", 20.0),  # 8
        ("cifar10-hinge", "cifar10-test", 10.0),  # 3.2 (an untrained generator: 40.6)
    ],
)
def test_gan_samples_are_far_closer_to_the_data_than_an_untrained_generators(
    name: str, data: str, bound: float
) -> None:
    config, task = untrained_task(name, data=str(require_shared(data)))
    untrained = task.generator
    trained = get_task("gan").build_generator(config)
    trained.load_state_dict(load_model_files(shipped(name))[1])

    n = 256
    dataset = get_task("gan").dataset(config, "train")
    chosen = np.random.default_rng(0).choice(len(dataset), n, replace=False)
    real = torch.stack([dataset[int(i)]["image"] for i in chosen])
    z = torch.randn(n, config.z_dim, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % config.num_classes if config.conditional else None

    def pooled(x: torch.Tensor) -> np.ndarray:
        return F.avg_pool2d(x.float(), 4).flatten(1).double().numpy()

    def samples(generator: torch.nn.Module) -> torch.Tensor:
        generator.train()  # batch statistics in batches of 64, as in training and eval
        with torch.no_grad():
            return torch.cat(
                [
                    generator(z[i : i + 64], None if labels is None else labels[i : i + 64])
                    for i in range(0, n, 64)
                ]
            )

    distance = frechet(pooled(samples(trained)), pooled(real))
    baseline = frechet(pooled(samples(untrained)), pooled(real))
    assert distance < bound and distance < 0.25 * baseline, (distance, baseline)


# ----------------------------------------------------------------------------------------
# Facades: pix2pix and CycleGAN nearer the true images than untrained generators


@pytest.fixture(scope="module")
def facades_test() -> tuple[torch.Tensor, torch.Tensor]:
    """(photos, label maps) of six facades test images, (6, 3, 256, 256) in [-1, 1]."""
    files = sorted(require_shared("facades", "test").glob("*.jpg"))[:6]
    photos, labels = [], []
    for file in files:
        image = Image.open(file).convert("RGB")
        width, height = image.size
        photos.append(pil_to_tensor(image.crop((0, 0, width // 2, height))))
        labels.append(pil_to_tensor(image.crop((width // 2, 0, width, height))))
    return torch.stack(photos), torch.stack(labels)


def colour_statistics(x: torch.Tensor) -> np.ndarray:
    """The mean colours of 16x16 blocks, one row per block: (N * blocks, 3)."""
    return F.avg_pool2d(x, 16).permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()


@pytest.mark.parametrize(
    ("name", "direction", "size", "l1_ratio"),
    [
        ("facades-label2photo", None, 256, 0.9),  # 0.34 vs 0.43 when shipped
        ("facades-pix2pixhd", None, 256, 0.95),  # 0.39 vs 0.44 (colours: 0.013 vs 0.37)
        ("facades-label2photo-cyclegan", "AtoB", 128, 0.85),  # 0.41 vs 0.50 when shipped
        ("facades-label2photo-cyclegan", "BtoA", 128, 0.95),  # 0.58 vs 0.66, colours 0.04 vs 0.62
    ],
)
def test_facades_models_beat_an_untrained_generator(
    name: str, direction: str | None, size: int, l1_ratio: float, facades_test, tmp_path: Path
) -> None:
    config, task = untrained_task(name)
    save_model(tmp_path / "untrained", config, task.generator)
    photos, labels = (F.interpolate(x, size=size, mode="area") for x in facades_test)
    source, target = (photos, labels) if direction == "BtoA" else (labels, photos)

    results = {}
    for kind, model in (("trained", shipped(name)), ("untrained", tmp_path / "untrained")):
        output = load(model, device="cpu", direction=direction).translate_tensor(source)
        l1 = float((output - target).abs().mean())
        results[kind] = (l1, frechet(colour_statistics(output), colour_statistics(target)))
    (l1, colours), (l1_untrained, colours_untrained) = results["trained"], results["untrained"]
    assert l1 < l1_ratio * l1_untrained, results
    assert colours < 0.2 * colours_untrained, results


def held_out_holes(name: str):
    """The shipped inpainting model ``name`` and twelve facades test photos (every ninth)
    with the holes it trained for, drawn as ``img2img eval`` draws them."""
    from dataclasses import replace

    model = load(shipped(name), "cpu")
    config = replace(model.config, data=str(require_shared("facades")))
    test = get_task("inpaint").dataset(config, "test")
    return model, [test[i] for i in range(0, len(test), 9)]


def test_facades_inpaint_fills_held_out_holes_better_than_the_mean_pixel():
    """On twelve test photos with their held-out holes, the hole's squared error is well
    below filling it with the training data's mean pixel (0.084 vs 0.141 when shipped)."""
    model, items = held_out_holes("facades-inpaint")
    image = torch.stack([item["target"] for item in items])
    mask = torch.stack([item["mask"] for item in items])

    def hole_error(completed: torch.Tensor) -> float:
        return float(((completed - image) ** 2 * mask).sum() / (3 * mask.sum()))

    mean_fill = hole_error(model.generator.fill_hole(image, mask))
    assert hole_error(model.inpaint_tensor(image, mask)) < 0.75 * mean_fill


@pytest.mark.parametrize("name", ["facades-inpaint-center", "facades-inpaint-random"])
def test_inpainting_models_beat_telea_on_held_out_holes_of_their_kind(name: str):
    """On twelve test photos with the holes the model trained for (centre: the paper's
    setting; random regions: train_random.lua's), the network's hole PSNR (per image, then
    averaged, as ``img2img eval``) is above OpenCV Telea's by 0.5 dB, about half the smaller
    gap measured when shipped (centre 19.09 vs 18.01 dB; random regions 18.79 vs 16.88)."""
    from img2img.metrics.inpainting import pixel_errors, telea

    model, items = held_out_holes(name)

    def hole_psnr(fill) -> float:
        scores = []
        for item in items:
            image, mask = item["target"][None], item["mask"][None]
            scores.append(pixel_errors(fill(image, mask), image, mask)["hole_psnr"])
        return float(np.mean(scores))

    network, classical = hole_psnr(model.inpaint_tensor), hole_psnr(telea)
    assert network > classical + 0.5, (network, classical)


# ----------------------------------------------------------------------------------------
# CIFAR-10 autoencoders: reconstructions of held-out images


def held_out_cifar10(count: int) -> torch.Tensor:
    """``count`` CIFAR-10 images the shipped autoencoders never trained on, (count, 3, 32, 32)
    in [-1, 1]: their held-out tenth is every tenth image in sorted order (class folder, then
    file name), and of those this takes evenly spaced ones, the same number from each class."""
    root = require_shared("cifar10-test")
    files = sorted(file for folder in sorted(root.iterdir()) for file in sorted(folder.iterdir()))
    held_out = files[::10]
    step = len(held_out) // count
    return torch.stack([pil_to_tensor(Image.open(f).convert("RGB")) for f in held_out[::step]])


@pytest.mark.parametrize(
    ("name", "bound_db"),
    [("cifar10-vq-f4", 21.0), ("cifar10-kl-f4", 24.0)],  # 23.4 and 26.9 dB on 500 when shipped
)
def test_cifar10_autoencoders_reconstruct_held_out_images_above_a_measured_bound(
    name: str, bound_db: float
) -> None:
    """Mean PSNR of 50 held-out reconstructions (RGB, [0, 1], per image then averaged, as
    ``img2img eval``) is above the model's goal (21 and 24 dB), over two decibels below the
    figure measured when shipped: far beyond the differences between CPUs, and far above an
    untrained network (about 11 dB)."""
    from img2img.metrics.pixel import psnr

    images = held_out_cifar10(50)
    model = load(shipped(name), "cpu")
    reconstructed = model.translate_tensor(images).clamp(-1, 1)
    mean_psnr = float(psnr(reconstructed, images).mean())
    assert mean_psnr > bound_db, mean_psnr
