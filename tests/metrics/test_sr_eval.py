"""SR evaluation: the MATLAB-like protocol, and the bicubic baseline in the same table."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import require_shared
from PIL import Image

from img2img.checkpoint import save_model
from img2img.config import merge
from img2img.images import pil_to_tensor
from img2img.metrics.evaluate import evaluate
from img2img.metrics.reports import format_table
from img2img.metrics.sr import bicubic_pair, modcrop
from img2img.tasks.srgan import SRGAN, SRGANConfig


def tiny_sr_model(directory: Path, scale: int = 4) -> Path:
    config = merge(SRGANConfig, {"data": "-", "scale": scale, "blocks": 1, "ngf": 8})
    torch.manual_seed(0)
    save_model(directory, config, SRGAN.build_generator(config))
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
    summary = evaluate(
        tiny_sr_model(tmp_path / "m", scale=2), folder, ["psnr"], progress=False, samples=1
    )
    rows = summary.summary["per_image"]
    assert [Path(row["path"]).name for row in rows] == ["gray.png", "rgb.png"]
    assert all(row["bicubic_psnr_y"] > row["psnr_y"] for row in rows)  # an untrained model
    ((lr, output, hr),) = summary.samples  # the first image's, for a report
    assert (lr.shape, output.shape, hr.shape) == ((3, 22, 25), (3, 44, 50), (3, 44, 50))


def test_given_lr_images_replace_the_protocols(tmp_path: Path) -> None:
    """`eval --lr-data`: the model and the bicubic column see the LR images given (paired by
    name, DIV2K's ``x2`` suffix allowed), not LR made from HR; a wrong size names the file."""
    from img2img.metrics.pixel import psnr

    hr_folder, lr_folder = tmp_path / "hr" / "test", tmp_path / "lr" / "test"
    hr_folder.mkdir(parents=True)
    lr_folder.mkdir(parents=True)
    hr_images = {
        "a": Image.radial_gradient("L").convert("RGB").resize((40, 32)),
        "b": Image.linear_gradient("L").convert("RGB").resize((36, 28)),
    }
    given = {}
    for name, hr in hr_images.items():
        hr.save(hr_folder / f"{name}.png")
        # Nearest-neighbour LR: not what the protocol's bicubic downscaling would make.
        given[name] = hr.resize((hr.width // 2, hr.height // 2), Image.Resampling.NEAREST)
    given["a"].save(lr_folder / "a.png")
    given["b"].save(lr_folder / "bx2.png")
    model = tiny_sr_model(tmp_path / "m", scale=2)

    summary = evaluate(model, tmp_path / "hr", ["psnr"], progress=False,
                       lr_data=tmp_path / "lr").summary  # fmt: skip
    made = evaluate(model, tmp_path / "hr", ["psnr"], progress=False).summary
    assert summary["lr_data"] == str(tmp_path / "lr") and summary["images"] == 2
    for row, made_row, name in zip(summary["per_image"], made["per_image"], "ab", strict=True):
        hr = pil_to_tensor(hr_images[name])[None]
        up = pil_to_tensor(given[name].resize(hr_images[name].size, Image.Resampling.BICUBIC))
        expected = psnr(up[None], hr, y_channel=True, shave=2)[0].item()
        assert row["bicubic_psnr_y"] == pytest.approx(expected, abs=1e-6)
        assert abs(row["bicubic_psnr_y"] - made_row["bicubic_psnr_y"]) > 0.1
        assert row["psnr_y"] != made_row["psnr_y"]  # the model saw the given LR too
    assert "LR from" in format_table(summary)
    # The report says what was measured and how (read by people and by scripts).
    for report, lr in ((summary, "given in"), (made, "HR cropped to a multiple of scale")):
        assert (report["task"], report["scale"], report["image_size"]) == ("srgan", 2, 96)
        assert report["device"] == "cpu"
        assert report["data"] == str(tmp_path / "hr") and report["protocol"]["lr"].startswith(lr)
        assert set(report["protocol"]) == {"lr", "bicubic", "shave", "y_channel", "outputs"}
        assert isinstance(report["seconds"], float) and 0 <= report["seconds"] < 600
        assert report["seconds"] == round(report["seconds"], 1)
    assert made["lr_data"] is None

    given["b"].resize((10, 10)).save(lr_folder / "bx2.png")
    with pytest.raises(ValueError, match=r"bx2\.png: an LR image of 10x10.*wants 18x14"):
        evaluate(model, tmp_path / "hr", ["psnr"], progress=False, lr_data=tmp_path / "lr")


def test_lpips_is_measured_for_the_model_and_bicubic_with_the_trunk_given(
    tmp_path: Path, random_alexnet_trunk: Path
) -> None:
    """`eval --lpips-weights FILE`: LPIPS of the model's output and of the bicubic upscale
    against HR, per image and as means, with the trunk loaded from FILE (here random
    AlexNet weights: the wiring is under test, not the values' meaning)."""
    from img2img.backbones.lpips import load_lpips

    trunk = random_alexnet_trunk
    folder = tmp_path / "hr"
    folder.mkdir()
    hr = Image.radial_gradient("L").convert("RGB").resize((40, 32))
    hr.save(folder / "a.png")
    model = tiny_sr_model(tmp_path / "m", scale=2)
    summary = evaluate(model, folder, ["psnr", "lpips"], progress=False,
                       lpips_weights=str(trunk)).summary  # fmt: skip
    row = summary["per_image"][0]
    lpips = load_lpips("alex", str(trunk), "cpu")
    expected = lpips(pil_to_tensor(bicubic_pair(hr, 2)[1])[None], pil_to_tensor(hr)[None])
    assert row["bicubic_lpips"] == pytest.approx(float(expected.flatten()[0]), rel=1e-5)
    assert row["lpips"] > 0 and row["lpips"] != pytest.approx(row["bicubic_lpips"])
    assert summary["metrics"]["lpips"] == pytest.approx(row["lpips"])
    assert summary["bicubic"]["lpips"] == pytest.approx(row["bicubic_lpips"])
    assert "lpips" in format_table(summary) and not summary["unavailable"]
