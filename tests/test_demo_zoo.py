"""The demo's GAN tab for the style generator (truncation, style mixing) and the DDGAN
(its denoising steps), called directly and through the built page."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY_GAN, save_untrained_model
from PIL import Image

gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.usefixtures("one_thread")

from img2img.catalog import describe_model  # noqa: E402
from img2img.demo import DemoBackend, build_demo  # noqa: E402

STYLE = {**TINY_GAN, "generator": "style", "w_dim": 8, "mapping_layers": 2}
DDGAN = {**TINY_GAN, "steps": 2, "t_dim": 8}


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoBackend:
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))  # exported sampling graphs
    models = [
        save_untrained_model(tmp_path / "style", "gan", **STYLE),
        save_untrained_model(tmp_path / "ddgan", "ddgan", **DDGAN),
        save_untrained_model(tmp_path / "dcgan", "gan", **TINY_GAN),
    ]
    infos = [describe_model(path) for path in models]
    return DemoBackend(infos, max_pixels=48 * 48, device="cpu", output_dir=tmp_path / "out")


def test_style_models_take_a_truncation_and_mix_styles(backend, tmp_path):
    style, dcgan = str(tmp_path / "style"), str(tmp_path / "dcgan")
    assert backend.generator_kind(style) == "style-mix" and backend.generator_kind(dcgan) == ""
    _, strip, status = backend.sample(style, 0, None, 4, 0, 2, truncation=0.5)
    assert strip is None and "4 samples" in status
    mixed, status = backend.extras(style, 3, truncation=0.7)
    assert Image.open(mixed).width > 5 * 28  # 5 x 5 with the sources, enlarged
    assert "Style mixing" in status
    with pytest.raises(gr.Error, match="not a style model"):
        backend.sample(dcgan, 0, None, 4, 0, 2, truncation=0.5)
    with pytest.raises(gr.Error, match="between 0 and 1"):
        backend.extras(style, 0, truncation=2)
    with pytest.raises(gr.Error, match="neither styles"):
        backend.extras(dcgan, 0)


def test_ddgan_models_show_their_denoising_steps(backend, tmp_path):
    ddgan = str(tmp_path / "ddgan")
    assert backend.generator_kind(ddgan) == "chain"
    grid, _, _ = backend.sample(ddgan, 0, None, 4, 0, 2)
    assert Image.open(grid).size[0] > 0
    steps, status = backend.extras(ddgan, 1)
    image = Image.open(steps)
    assert image.width / image.height == pytest.approx(3 / 4, rel=0.05)  # x_2, x_1, x_0 x 4
    assert status.startswith("2 denoising steps")
    assert isinstance(build_demo([ddgan, str(tmp_path / "style")], device="cpu"), gr.Blocks)
