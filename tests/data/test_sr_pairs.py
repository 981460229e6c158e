"""--lr-data: given LR/HR pairs, matched by name, cropped on the same window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_hr_images
from PIL import Image

from img2img.data.sr import SRImageFolder


def make_lr(hr_root: Path, lr_root: Path, suffix: str = "x2") -> Path:
    """LR = 2 x 2 box averages of each HR image, named NAMEx2.png (DIV2K's way)."""
    lr_root.mkdir(parents=True)
    for file in sorted(hr_root.glob("*.png")):
        hr = np.asarray(Image.open(file)).astype(np.float64)
        h, w = hr.shape[0] // 2, hr.shape[1] // 2
        lr = hr[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        Image.fromarray(np.round(lr).astype(np.uint8)).save(lr_root / f"{file.stem}{suffix}.png")
    return lr_root


@pytest.fixture
def pairs(tmp_path: Path) -> tuple[Path, Path]:
    hr = make_hr_images(tmp_path / "HR", [(40, 32), (32, 48), (36, 36), (48, 40)])
    return hr, make_lr(hr, tmp_path / "LR")


@pytest.mark.parametrize("train", [True, False])
def test_the_lr_crop_is_the_hr_crops_window(pairs: tuple[Path, Path], train: bool) -> None:
    hr, lr = pairs
    dataset = SRImageFolder([hr], crop_size=16, scale=2, train=train, lr_roots=[lr])
    for epoch in range(3):
        for index in range(len(dataset)):
            item = dataset[(epoch, index)]
            assert item["input"].shape == (3, 8, 8) and item["target"].shape == (3, 16, 16)
            # The given LR pixels, not a bicubic downscale: box averages of the HR crop.
            expected = F.avg_pool2d(item["target"][None], 2)[0]
            torch.testing.assert_close(item["input"], expected, atol=0.51 / 127.5, rtol=0)


def test_unmatched_or_missized_lr_files_are_named(pairs: tuple[Path, Path]) -> None:
    hr, lr = pairs
    (lr / "00x2.png").rename(lr / "zz.png")
    with pytest.raises(ValueError, match=r"only in .*HR: 00; only in .*LR: zz"):
        SRImageFolder([hr], crop_size=16, scale=2, lr_roots=[lr])
    Image.new("RGB", (5, 5)).save(lr / "00x2.png")
    (lr / "zz.png").unlink()
    dataset = SRImageFolder([hr], crop_size=16, scale=2, lr_roots=[lr])
    with pytest.warns(UserWarning, match=r"00x2.png.*5x5 is not the size of its HR image"):
        assert dataset[0]["skipped"] == 1


def test_degradations_and_given_lr_exclude_each_other(pairs: tuple[Path, Path]) -> None:
    hr, lr = pairs
    with pytest.raises(ValueError, match="use one or the other"):
        SRImageFolder([hr], crop_size=16, scale=2, lr_roots=[lr], noise=2.0)


def test_srgan_trains_on_given_pairs(pairs: tuple[Path, Path], tmp_path: Path) -> None:
    from img2img.config import merge
    from img2img.tasks.srgan import SRGAN
    from img2img.train import Trainer

    hr, lr = pairs
    values = {
        "data": str(hr), "lr_data": str(lr), "out": str(tmp_path / "run"), "scale": 2,
        "image_size": 16, "batch_size": 2, "blocks": 1, "ngf": 8, "phase": "psnr",
        "max_steps": 2, "num_workers": 0, "device": "cpu",
    }  # fmt: skip
    trainer = Trainer(merge(SRGAN.Config, values))
    assert trainer.dataset.partners
    trainer.fit()
