"""--channels 1: grayscale pix2pix/CycleGAN models, trained on luma, run on any image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CYCLEGAN, tiny_pix2pix
from PIL import Image

from img2img.config import merge
from img2img.data import split_unpaired
from img2img.images import pil_to_tensor
from img2img.infer import load, luma
from img2img.metrics.evaluate import evaluate
from img2img.tasks.cyclegan import CycleGAN
from img2img.tasks.pix2pix import Pix2Pix
from img2img.train import Trainer


def test_a_grayscale_pix2pix_trains_translates_and_evaluates(
    paired_dataset: Path, tmp_path: Path
) -> None:
    config = tiny_pix2pix(paired_dataset, tmp_path / "run", channels=1, max_steps=2)
    item = Pix2Pix.dataset(config, "train")[0]
    assert item["input"].shape == item["target"].shape == (1, 32, 32)
    run = Trainer(config).fit()
    photo = Image.open(next((paired_dataset / "test").glob("*.png"))).crop((0, 0, 32, 32))
    output = load(run, device="cpu", precision="fp32")(photo)
    assert output.mode == "RGB" and output.size == (32, 32)
    pixels = np.asarray(output)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    measured = evaluate(run, paired_dataset, ["psnr", "ssim"], device="cpu", progress=False)
    assert measured.summary["metrics"]["psnr"] > 0


def test_luma_is_pils_grey(paired_dataset: Path) -> None:
    image = Image.open(next((paired_dataset / "train").glob("*.png")))
    grey = pil_to_tensor(image.convert("L"))[:1]
    converted = luma(pil_to_tensor(image)[None])[0]
    torch.testing.assert_close(converted, grey, atol=1.01 / 127.5, rtol=0)


def test_a_grayscale_cyclegan_builds_one_channel_networks(
    paired_dataset: Path, tmp_path: Path
) -> None:
    split_unpaired(paired_dataset, tmp_path / "unpaired")
    values = {"data": str(tmp_path / "unpaired"), "out": str(tmp_path / "run"), **TINY_CYCLEGAN}
    config = merge(CycleGAN.Config, {**values, "channels": 1, "max_steps": 1, "num_workers": 0})
    assert CycleGAN.dataset(config, "train")[0]["A"].shape == (1, 32, 32)
    trainer = Trainer(config)
    assert trainer.task.generator["AtoB"].in_channels == 1
    trainer.fit()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_a_grayscale_model_exports_with_one_input_channel(tmp_path: Path) -> None:
    from conftest import save_untrained_model

    from img2img.export import export_model

    values = {"data": "-", "ngf": 8, "image_size": 32, "channels": 1}
    model = save_untrained_model(tmp_path / "grey", "pix2pix", **values)
    scripted = torch.jit.load(str(export_model(model, tmp_path / "grey.pt", "torchscript")))
    assert scripted(torch.zeros(2, 1, 64, 64)).shape == (2, 1, 64, 64)
