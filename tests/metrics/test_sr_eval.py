"""SR evaluation: the MATLAB-like protocol, and the bicubic baseline in the same table."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import require_shared
from PIL import Image

from img2img.checkpoint import save_model
from img2img.config import merge
from img2img.metrics.evaluate import evaluate
from img2img.metrics.reports import format_table
from img2img.metrics.sr import bicubic_pair, modcrop
from img2img.tasks.srgan import SRGAN, SRGANConfig


def tiny_sr_model(directory: Path, scale: int = 4) -> Path:
    config = merge(SRGANConfig, {"data": "-", "scale": scale, "blocks": 1, "channels": 8})
    torch.manual_seed(0)
    save_model(directory, config.to_dict(), SRGAN.build_generator(config))
    return directory


def test_modcrop_drops_the_bottom_and_right_remainder() -> None:
    image = Image.new("RGB", (23, 18))
    assert modcrop(image, 4).size == (20, 16)
    lr, up = bicubic_pair(modcrop(image, 4), 4)
    assert lr.size == (5, 4) and up.size == (20, 16)


def test_set5_bicubic_baseline_reproduces_the_literature(tmp_path: Path) -> None:
    """The eval table's bicubic column on Set5 x4 (Y, 4 px shaved) is the papers' 28.43 dB."""
    set5 = require_shared("sr", "Set5")
    summary = evaluate(
        tiny_sr_model(tmp_path / "m"), set5, ["psnr", "ssim"], progress=False
    ).summary
    assert summary["bicubic"]["psnr_y"] == pytest.approx(28.43, abs=0.1)
    assert summary["bicubic"]["ssim_y"] == pytest.approx(0.8104, abs=0.002)
    assert summary["images"] == 5 and summary["scale"] == 4
    assert {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"} <= set(summary["metrics"])
    table = format_table(summary)
    assert "baby.png" in table and "mean" in table and "| 28.4" in table


def test_grayscale_and_odd_sized_test_images(tmp_path: Path) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.radial_gradient("L").resize((50, 45)).save(folder / "gray.png")
    Image.linear_gradient("L").convert("RGB").resize((37, 41)).save(folder / "rgb.png")
    summary = evaluate(tiny_sr_model(tmp_path / "m", scale=2), folder, ["psnr"], progress=False)
    rows = summary.summary["per_image"]
    assert [Path(row["path"]).name for row in rows] == ["gray.png", "rgb.png"]
    assert all(row["bicubic_psnr_y"] > row["psnr_y"] for row in rows)  # an untrained model
