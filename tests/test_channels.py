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
    translator = load(run, device="cpu", precision="fp32")
    output = translator(photo)
    assert output.mode == "L" and output.size == (32, 32)  # a grayscale model's output is grey
    # Every kind of input gives a one-channel result of its kind.
    assert translator(np.asarray(photo)).shape == (32, 32)
    assert translator(np.asarray(photo.convert("L"))[..., None]).shape == (32, 32, 1)
    tensor = pil_to_tensor(photo)
    assert translator(tensor).shape == (1, 32, 32)
    assert translator(tensor[None]).shape == (1, 1, 32, 32)
    np.testing.assert_array_equal(np.asarray(output), np.asarray(translator(photo.convert("L"))))
    # eval compares it as RGB grey with the targets (PSNR of a perfect grey copy is infinite;
    # any finite positive figure shows the comparison ran on matching shapes).
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


def test_a_grayscale_model_writes_grayscale_files_and_shows_grey_in_the_demo(
    paired_dataset: Path, tmp_path: Path, one_thread
) -> None:
    from conftest import TINY_PIX2PIX, save_untrained_model

    from img2img.catalog import describe_model
    from img2img.cli import main
    from img2img.demo import DemoBackend

    model = save_untrained_model(tmp_path / "grey", "pix2pix", **TINY_PIX2PIX, channels=1)
    photo = Image.open(next((paired_dataset / "test").glob("*.png"))).crop((0, 0, 32, 32))
    photo.save(tmp_path / "in.png")
    photo.save(tmp_path / "in.jpg")
    out = tmp_path / "out"
    main(["translate", "--model", str(model), str(tmp_path / "in.png"), str(tmp_path / "in.jpg"),
          "-o", f"{out}/", "--no-progress", "--device", "cpu"])  # fmt: skip
    for name in ("in.png", "in.jpg"):
        with Image.open(out / name) as written:
            assert written.mode == "L" and written.size == (32, 32)

    backend = DemoBackend([describe_model(model)], device="cpu", output_dir=tmp_path / "demo")
    shown, status = backend.translate(str(model), None, str(tmp_path / "in.png"))
    assert shown.mode == "L" and status.startswith("Translated")
