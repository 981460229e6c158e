"""--preprocess: the reference pix2pix/CycleGAN options for non-square images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_pix2pix
from PIL import Image

from img2img.data import PairedImageFolder, UnpairedImageFolder
from img2img.data.transforms import preprocess_images


def make_wide_pairs(root: Path, count: int = 3) -> Path:
    """A|B files of 48 x 30 halves (wide, and 30 is no multiple of 4); B = 255 - A."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(count):
        a = rng.integers(0, 256, (30, 48, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("mode", "train_shape", "eval_shape"),
    [
        ("resize_and_crop", (24, 24), (24, 24)),
        ("scale_width", (24, 32), (24, 24)),  # height int(32 * 30 / 48) = 20, at least 24
        ("scale_width_and_crop", (24, 24), (24, 24)),
        ("none", (32, 48), (32, 48)),  # sides rounded to multiples of 8
    ],
)
def test_sizes(tmp_path: Path, mode: str, train_shape: tuple, eval_shape: tuple) -> None:
    root = make_wide_pairs(tmp_path / "train")
    options = {"load_size": 32, "crop_size": 24, "preprocess": mode, "size_multiple": 8}
    trained = PairedImageFolder(root, **options)[(0, 1)]
    assert trained["input"].shape[1:] == trained["target"].shape[1:] == train_shape
    # One crop and flip for both images of the pair (B = 255 - A, up to resize rounding).
    torch.testing.assert_close(trained["target"], -trained["input"], atol=2.01 / 127.5, rtol=0)
    shown = PairedImageFolder(root, train=False, **options)[1]
    assert shown["input"].shape[1:] == eval_shape


def test_scale_width_keeps_the_aspect_ratio() -> None:
    image = Image.new("RGB", (200, 100))
    (scaled,) = preprocess_images([image], "scale_width", 100, 40, False, torch.Generator())
    assert scaled.size == (100, 50)


def test_unpaired_images_follow_it_too(tmp_path: Path) -> None:
    root = make_wide_pairs(tmp_path / "A")
    dataset = UnpairedImageFolder(root, root, load_size=32, crop_size=24, preprocess="none")
    assert dataset[(0, 0)]["A"].shape == (3, 32, 96)  # the whole 96 x 30 file


def test_pix2pix_trains_on_whole_wide_images(tmp_path: Path) -> None:
    from img2img.train import Trainer

    make_wide_pairs(tmp_path / "data" / "train", count=2)
    config = tiny_pix2pix(
        tmp_path / "data", tmp_path / "run", generator="resnet", resnet_blocks=1,
        preprocess="none", max_steps=1, d_layers=1,
    )  # fmt: skip
    trainer = Trainer(config)
    assert trainer.sample_batch["input"].shape[2:] == (32, 48)
    trainer.fit()
