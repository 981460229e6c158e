"""The SR evaluation protocol on generated images (no real data needed): ``scale`` pixels
shaved at each border, PSNR on MATLAB's Y channel, and PSNR/SSIM that agree with skimage."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import assert_agrees_with_skimage
from PIL import Image

from img2img.metrics import psnr
from img2img.metrics.sr import evaluate_sr

SCALE = 4
OFFSET = 8  # 8-bit levels added to the green channel inside the border


class OutputOf:
    """A stand-in for a loaded SR model: returns a fixed image for any LR input, so the test
    decides exactly where the output differs from the HR image."""

    def __init__(self, output: np.ndarray) -> None:
        self.output = torch.from_numpy(output).permute(2, 0, 1)[None].float() / 127.5 - 1
        self.config = SimpleNamespace(task="srgan", scale=SCALE, image_size=96)
        self.device = torch.device("cpu")
        self.lr_shapes: list[tuple[int, ...]] = []

    def translate_tensor(self, lr: torch.Tensor) -> torch.Tensor:
        self.lr_shapes.append(tuple(lr.shape))
        return self.output.clone()


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A uint8 RGB image with values in [20, 200] (room for the offset), smooth and varied."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(20, 201, (6, 6, 3), dtype=np.uint8))
    return np.array(small.resize((width, height), Image.Resampling.BILINEAR))


def test_eval_shaves_scale_pixels_and_measures_psnr_on_matlab_y(tmp_path: Path) -> None:
    hr = smooth_image(40, 48, seed=0)
    (tmp_path / "hr").mkdir()
    Image.fromarray(hr).save(tmp_path / "hr" / "img.png")
    output = hr.astype(np.int64)
    output[SCALE:-SCALE, SCALE:-SCALE, 1] += OFFSET  # inside: green up by 8 levels
    output[:SCALE] = 255 - output[:SCALE]  # the border rows and columns: nonsense
    output[:, -SCALE:] = 0
    model = OutputOf(output.astype(np.uint8))

    summary, _ = evaluate_sr(
        model, tmp_path / "hr", ["psnr", "ssim"], model_path="stand-in", progress=False
    )
    assert model.lr_shapes == [(1, 3, 40 // SCALE, 48 // SCALE)]
    assert summary["scale"] == SCALE and summary["protocol"]["shave"] == SCALE
    # By hand, pixels in [0, 1]: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255, so green
    # up by 8/255 moves Y by 128.553 * 8 / 255^2 everywhere inside the border.
    delta_y = 128.553 * OFFSET / 255**2
    assert summary["metrics"]["psnr_y"] == pytest.approx(10 * math.log10(1 / delta_y**2), abs=1e-6)
    # RGB: one channel of three off by 8/255.
    mse_rgb = (OFFSET / 255) ** 2 / 3
    assert summary["metrics"]["psnr_rgb"] == pytest.approx(10 * math.log10(1 / mse_rgb), abs=1e-6)
    # Without the shave the nonsense border would dominate: the protocol's numbers differ.
    hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 127.5 - 1
    unshaved = psnr(model.output, hr_t, y_channel=True).item()
    assert unshaved < summary["metrics"]["psnr_y"] - 10
    assert summary["metrics"]["ssim_y"] < 1


@pytest.mark.parametrize("seed", [1, 2])
def test_psnr_and_ssim_agree_with_skimage_on_generated_images(seed: int) -> None:
    clean = smooth_image(48, 56, seed)
    rng = np.random.default_rng(seed + 10)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    a, b = (torch.from_numpy(x).permute(2, 0, 1).float() / 127.5 - 1 for x in (noisy, clean))
    assert_agrees_with_skimage(a, b, ssim_tol=1e-6)


class PerfectModel(OutputOf):
    """A stand-in that returns each HR image in turn (files are read in sorted order)."""

    def __init__(self, outputs: list[np.ndarray]) -> None:
        super().__init__(outputs[0])
        self.outputs = [OutputOf(x).output for x in outputs]

    def translate_tensor(self, lr: torch.Tensor) -> torch.Tensor:
        self.lr_shapes.append(tuple(lr.shape))
        return self.outputs[len(self.lr_shapes) - 1].clone()


def test_fid_and_kid_compare_each_method_with_the_hr_images(tmp_path: Path, one_thread) -> None:
    """A model that returns the HR images exactly is at FID 0 and below bicubic's KID (the
    unbiased KID estimate of identical sets is slightly negative, not 0)."""
    pytest.importorskip("scipy", reason="FID needs the metrics extra")
    from img2img.backbones.inception import default_inception_path

    try:
        default_inception_path()
    except FileNotFoundError as missing:
        pytest.skip(f"no Inception network: {missing}")
    hr = [smooth_image(40, 48, seed) for seed in (3, 4, 5)]
    (tmp_path / "hr").mkdir()
    for i, image in enumerate(hr):
        Image.fromarray(image).save(tmp_path / "hr" / f"{i}.png")
    summary, _ = evaluate_sr(
        PerfectModel(hr), tmp_path / "hr", ["psnr", "fid", "kid"], model_path="stand-in",
        progress=False,
    )  # fmt: skip
    model, bicubic = summary["metrics"], summary["bicubic"]
    assert model["fid"] == pytest.approx(0, abs=1e-3)
    assert bicubic["fid"] > 1 and model["kid"]["mean"] <= 0 < bicubic["kid"]["mean"]
    assert math.isinf(model["psnr_y"]) or model["psnr_y"] > 100


def test_eval_keeps_the_first_samples_lr_output_and_hr_for_the_report(tmp_path: Path) -> None:
    hr = [smooth_image(40, 48, seed) for seed in (6, 7, 8)]
    (tmp_path / "hr").mkdir()
    for i, image in enumerate(hr):
        Image.fromarray(image).save(tmp_path / "hr" / f"{i}.png")
    model = PerfectModel(hr)
    _, kept = evaluate_sr(
        model, tmp_path / "hr", ["psnr"], model_path="stand-in", progress=False, samples=2
    )
    assert len(kept) == 2
    for (lr, output, target), image, expected in zip(kept, hr[:2], model.outputs[:2], strict=True):
        assert lr.shape == (3, 40 // SCALE, 48 // SCALE)
        torch.testing.assert_close(output, expected[0])
        torch.testing.assert_close(target, torch.from_numpy(image).permute(2, 0, 1) / 127.5 - 1)


def test_the_table_prints_each_image_the_mean_and_the_distribution_metrics() -> None:
    from img2img.metrics.sr import format_sr_table

    summary = {
        "model": "runs/sr-x4",
        "data": "Set5",
        "images": 2,
        "scale": 4,
        "per_image": [
            {"path": "a/baby.png", "psnr_y": 30.123, "ssim_y": 0.91234,
             "bicubic_psnr_y": 28.5, "bicubic_ssim_y": 0.8},
            {"path": "a/butterfly_long.png", "psnr_y": 25.0, "ssim_y": 0.85,
             "bicubic_psnr_y": 22.25, "bicubic_ssim_y": 0.75},
        ],
        "metrics": {"psnr_y": 27.5615, "ssim_y": 0.88117, "fid": 12.345,
                    "kid": {"mean": 0.01234, "std": 0.00056}},
        "bicubic": {"psnr_y": 25.375, "ssim_y": 0.775, "fid": 50.0,
                    "kid": {"mean": 0.05, "std": 0.001}},
        "unavailable": {"lpips": "no AlexNet weights"},
    }  # fmt: skip
    name = "butterfly_long.png"  # the widest name sets the first column's width (18)
    expected = [
        "sr-x4 on Set5 (2 images, x4; LR by PIL bicubic; 4 px shaved; model | bicubic)",
        "image".ljust(18) + "psnr_y".rjust(18) + "ssim_y".rjust(18),
        "baby.png".ljust(18) + "30.12 | 28.50".rjust(18) + "0.9123 | 0.8000".rjust(18),
        name + "25.00 | 22.25".rjust(18) + "0.8500 | 0.7500".rjust(18),
        "mean".ljust(18) + "27.56 | 25.38".rjust(18) + "0.8812 | 0.7750".rjust(18),
        "fid".ljust(18) + "12.35 | 50.00",
        "kid".ljust(18) + "0.0123 +- 0.0006 | 0.0500 +- 0.0010",
        "lpips".ljust(18) + "unavailable: no AlexNet weights",
    ]
    assert format_sr_table(summary).split("\n") == expected
    given = format_sr_table({**summary, "lr_data": "Set5_LR"}).split("\n")[0]
    assert "; LR from Set5_LR;" in given
    short = {**summary, "per_image": summary["per_image"][:1]}  # names shorter than "mean"
    assert format_sr_table(short).split("\n")[1].startswith("image".ljust(8) + "psnr_y".rjust(18))
