"""The demo's inpainting tab, called directly: the brush layers make the hole, only the hole
changes, and an empty mask or a bad upload gets a message for the page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_INPAINT, save_untrained_model
from PIL import Image

gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.usefixtures("one_thread")

from img2img.catalog import describe_model  # noqa: E402
from img2img.demo import DemoBackend  # noqa: E402


@pytest.fixture
def backend(tmp_path: Path) -> DemoBackend:
    model = save_untrained_model(tmp_path / "inpaint", "inpaint", **TINY_INPAINT)
    return DemoBackend([describe_model(model)], device="cpu", output_dir=tmp_path / "out")


def brush_layer(path: Path, size: tuple[int, int], box: tuple[int, int, int, int] | None) -> str:
    layer = np.zeros((size[1], size[0], 4), np.uint8)
    if box is not None:
        left, top, right, bottom = box
        layer[top:bottom, left:right] = 255
    Image.fromarray(layer).save(path)
    return str(path)


def test_the_painted_region_is_filled_and_nothing_else_changes(backend, tmp_path):
    name = backend.names("inpaint")[0]
    photo = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    layers = [
        brush_layer(tmp_path / "a.png", (60, 40), (5, 5, 15, 20)),
        brush_layer(tmp_path / "b.png", (60, 40), (30, 10, 40, 30)),
    ]
    output, status = backend.inpaint(name, str(tmp_path / "photo.png"), layers)
    result = np.asarray(output)
    hole = np.zeros((40, 60), bool)
    hole[5:20, 5:15] = hole[10:30, 30:40] = True
    assert np.array_equal(result[~hole], photo[~hole])
    assert (result[hole] != photo[hole]).any()
    assert status == f"Filled a hole of {hole.mean():.0%} of the image with {name}."


def test_an_empty_mask_or_a_bad_upload_gets_a_message(backend, tmp_path):
    name = backend.names("inpaint")[0]
    Image.new("RGB", (40, 40)).save(tmp_path / "photo.png")
    for layers in ([], None, [brush_layer(tmp_path / "none.png", (40, 40), None)]):
        with pytest.raises(gr.Error, match="Paint the hole to fill with the brush first"):
            backend.inpaint(name, str(tmp_path / "photo.png"), layers)
    everything = [brush_layer(tmp_path / "all.png", (40, 40), (0, 0, 40, 40))]
    with pytest.raises(gr.Error, match="Cannot fill this hole: the mask is all hole"):
        backend.inpaint(name, str(tmp_path / "photo.png"), everything)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(gr.Error, match=r"Cannot use notes\.png: not an image"):
        backend.inpaint(name, str(tmp_path / "notes.png"), everything)
    with pytest.raises(gr.Error, match="Upload an image first"):
        backend.inpaint(name, None, everything)


def test_the_app_has_an_inpainting_tab_with_a_brush(tmp_path):
    from img2img.demo import build_demo

    model = save_untrained_model(tmp_path / "inpaint", "inpaint", **TINY_INPAINT)
    demo = build_demo([model], device="cpu")
    editors = [block for block in demo.blocks.values() if isinstance(block, gr.ImageEditor)]
    assert len(editors) == 1 and demo.backend.names("inpaint") == [str(model)]
