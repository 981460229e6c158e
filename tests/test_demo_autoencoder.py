"""The demo's Autoencoder tab: input | reconstruction | code map, and the compression ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_VQGAN, save_untrained_model
from PIL import Image

pytest.importorskip("gradio")
pytestmark = pytest.mark.usefixtures("one_thread")

from img2img.catalog import describe_model  # noqa: E402
from img2img.demo import DemoBackend, build_demo, colour_codes  # noqa: E402


def test_autoencoder_tab_shows_reconstruction_code_map_and_compression(tmp_path: Path) -> None:
    model = save_untrained_model(tmp_path / "vq", "vqgan", **TINY_VQGAN)
    backend = DemoBackend([describe_model(model)], max_pixels=64 * 64, device="cpu")
    assert backend.names("autoencode") == [str(model)]
    image = tmp_path / "in.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(image)
    reconstruction, code_map, status = backend.autoencode(str(model), str(image))
    assert reconstruction.size == (24, 20)
    # Padded to 24 x 20 at f = 4: 6 x 5 codes, each a 4 x 4 block of one colour.
    assert code_map.size == (24, 20)
    pixels = np.asarray(code_map)
    assert np.array_equal(pixels, pixels[::4, ::4].repeat(4, axis=0).repeat(4, axis=1))
    # 30 codes of 16 (4 bits each) = 120 bits for 24 x 20 x 24 bits: 96x smaller.
    assert status == "24x20 -> 6x5 codes of 16 (120 bits): 96.0x smaller than 24-bit pixels."
    demo = build_demo([model], device="cpu")
    assert "No autoencoder model is loaded" not in "".join(
        str(getattr(block, "value", "")) for block in demo.blocks.values()
    )


def test_code_colours_are_the_same_for_the_same_code() -> None:
    import torch

    codes = torch.tensor([[0, 1], [1, 0]])
    pixels = np.asarray(colour_codes(codes, 16))
    assert np.array_equal(pixels[0, 0], pixels[1, 1]) and np.array_equal(pixels[0, 1], pixels[1, 0])
    assert not np.array_equal(pixels[0, 0], pixels[0, 1])
