"""SR data: HR crops with LR inputs made on the fly, several folders, bad input handled."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from conftest import make_hr_images
from PIL import Image

from img2img.data.sr import SRImageFolder, bicubic_downscale, split_folders
from img2img.images import pil_to_tensor


def test_items_are_lr_hr_pairs_of_the_crop_and_scale(tmp_path: Path) -> None:
    one = make_hr_images(tmp_path / "one", [(50, 40), (64, 64)])
    two = make_hr_images(tmp_path / "two", [(40, 60)], seed=1)
    data = SRImageFolder([one, two], crop_size=32, scale=4)
    assert len(data) == 3
    for item in (data[0], data[1], data[2]):
        assert item["input"].shape == (3, 8, 8) and item["target"].shape == (3, 32, 32)
        assert torch.equal(item["input"], bicubic_downscale(item["target"], 4))
    assert data[2]["path"].startswith(str(two))


def test_crops_are_a_function_of_seed_epoch_and_index(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "hr", [(80, 80)])
    data = SRImageFolder([root], crop_size=16, scale=2, noise=2.0, jpeg_quality=50, seed=3)
    first = data[0]
    assert torch.equal(first["input"], data[0]["input"])  # same (seed, epoch, index)
    data.set_epoch(1)
    assert not torch.equal(first["target"], data[0]["target"])  # a new crop each epoch
    centre = SRImageFolder([root], crop_size=16, scale=2, train=False)[0]["target"]
    assert torch.equal(centre, pil_to_tensor(Image.open(root / "00.png"))[:, 32:48, 32:48])


def test_training_downscale_matches_pil_bicubic_within_one_level(tmp_path: Path) -> None:
    """The LR kernel of training is the one evaluation uses (PIL BICUBIC), up to rounding."""
    root = make_hr_images(tmp_path / "hr", [(96, 96)])
    image = Image.open(root / "00.png")
    pil = pil_to_tensor(image.resize((24, 24), Image.Resampling.BICUBIC))
    ours = bicubic_downscale(pil_to_tensor(image), 4)
    assert (ours - pil).abs().max().item() <= 1 / 127.5 + 1e-6


def test_degradations_change_the_input_only(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "hr", [(64, 64)])
    clean = SRImageFolder([root], crop_size=32, scale=2)[0]
    for options in ({"blur_sigma": 1.5}, {"noise": 5.0}, {"jpeg_quality": 30}):
        degraded = SRImageFolder([root], crop_size=32, scale=2, **options)[0]
        assert torch.equal(degraded["target"], clean["target"]), options
        change = (degraded["input"] - clean["input"]).abs().mean().item()
        assert 0.002 < change < 0.3, options


def test_small_images_are_skipped_with_a_warning_and_counted(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "hr", [(20, 60), (64, 64)])
    data = SRImageFolder([root], crop_size=32, scale=4)
    with pytest.warns(UserWarning, match=r"00.png: 20x60 is smaller than the HR crop of 32"):
        item = data[0]
    assert item["skipped"] == 1 and item["path"].endswith("01.png")
    only_small = SRImageFolder([make_hr_images(tmp_path / "small", [(20, 20)])], crop_size=32)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="none of the 1 images"):
        warnings.simplefilter("ignore")
        only_small[0]


def test_grayscale_images_become_rgb(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "gray", [(40, 40)], mode="L")
    item = SRImageFolder([root], crop_size=32, scale=4)[0]
    assert item["target"].shape == (3, 32, 32)
    assert torch.equal(item["target"][0], item["target"][1])


def test_bad_options_are_explained(tmp_path: Path) -> None:
    root = make_hr_images(tmp_path / "hr", [(40, 40)])
    with pytest.raises(ValueError, match=r"image_size=30 .* not a multiple of scale=4"):
        SRImageFolder([root], crop_size=30, scale=4)
    with pytest.raises(ValueError, match="jpeg_quality=100"):
        SRImageFolder([root], jpeg_quality=100)
    assert split_folders(" a, b ,") == ["a", "b"]
    with pytest.raises(ValueError, match="--data is empty"):
        split_folders(",")


def test_the_srgan_recipe_degrades_and_flips_as_its_options_say(tmp_path: Path) -> None:
    """SRGAN's training set is the SRImageFolder its options describe: each degradation and
    the flips change the items when set, and the seed picks the crops."""
    from img2img.config import merge
    from img2img.tasks.srgan import SRGAN, SRGANConfig

    make_hr_images(tmp_path / "data" / "train", [(48, 48), (56, 48)])
    make_hr_images(tmp_path / "data" / "test", [(40, 44)])
    base = {"data": str(tmp_path / "data"), "image_size": 16, "scale": 4, "flip": False}

    def item(**options) -> dict[str, torch.Tensor]:
        return SRGAN.dataset(merge(SRGANConfig, {**base, **options}), "train")[(0, 1)]

    held_out = [
        SRGAN.dataset(merge(SRGANConfig, {**base, "seed": seed}), "test")[(epoch, 0)]["target"]
        for seed, epoch in ((0, 0), (1, 3))
    ]
    assert torch.equal(*held_out)  # the centre crop, not a random training one

    plain = item()
    for option in ({"blur_sigma": 1.5}, {"noise": 10.0}, {"jpeg_quality": 20}):
        degraded = item(**option)
        assert torch.equal(degraded["target"], plain["target"]), option
        assert not torch.equal(degraded["input"], plain["input"]), option
    flipped = [item(flip=True, seed=seed)["target"] for seed in range(8)]
    crops = [item(seed=seed)["target"] for seed in range(8)]
    pairs = zip(flipped, crops, strict=True)
    assert any(torch.equal(f, c.flip(-1)) and not torch.equal(f, c) for f, c in pairs)
    assert not all(torch.equal(crops[0], crop) for crop in crops[1:])
