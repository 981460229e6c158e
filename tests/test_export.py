"""Exported generators compute what `translate` computes, at several input sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from img2img.checkpoint import save_model
from img2img.config import merge
from img2img.export import export_model
from img2img.infer import load
from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig

GENERATORS = {
    # UNet with batch norm at batch size 1: exported with per-image statistics
    "unet": ({"generator": "unet", "image_size": 32, "norm": "batch"}, (32, 64)),
    "resnet": ({"generator": "resnet", "resnet_blocks": 2, "norm": "instance"}, (32, 44)),
}


def saved_model(directory: Path, **values) -> Path:
    config = merge(Pix2PixConfig, {"data": "-", "ngf": 8, **values})
    torch.manual_seed(0)
    generator = Pix2Pix.build_generator(config)
    for parameter in generator.parameters():  # non-trivial affine parameters in every norm
        parameter.data.normal_(0.0, 0.2)
    save_model(directory, config, generator)
    return directory


@pytest.mark.parametrize("name", list(GENERATORS))
def test_onnx_matches_pytorch_at_two_sizes(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="install img2img[export] for ONNX")
    values, sizes = GENERATORS[name]
    model = saved_model(tmp_path / name, **values)
    path = export_model(model, tmp_path / f"{name}.onnx")
    session = ort.InferenceSession(str(path))
    translator = load(model, device="cpu", precision="fp32")
    for size in sizes:
        x = torch.rand(2, 3, size, size) * 2 - 1
        expected = translator.translate_tensor(x).numpy()
        actual = session.run(None, {"image": x.numpy()})[0]
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_runs_without_img2img_classes(tmp_path: Path) -> None:
    model = saved_model(tmp_path / "unet", **GENERATORS["unet"][0])
    path = export_model(model, tmp_path / "unet.pt", format="torchscript")
    scripted = torch.jit.load(str(path))
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    expected = load(model, device="cpu", precision="fp32").translate_tensor(x)  # as exported
    torch.testing.assert_close(scripted(x), expected)


def test_unknown_format_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tflite"):
        export_model(tmp_path, tmp_path / "x", format="tflite")
