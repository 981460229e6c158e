"""The web demo's functions, called directly (no server, no browser): each tab's result,
the pixel limit, and clear messages for bad uploads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TINY_CYCLEGAN, TINY_GAN, TINY_PIX2PIX, save_untrained_model
from PIL import Image

gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.usefixtures("one_thread")

import img2img  # noqa: E402
from img2img.catalog import describe_model  # noqa: E402
from img2img.demo import ALL_CLASSES, DemoBackend, build_demo, fit_pixels  # noqa: E402


def write_image(path: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(width * height)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def tiny_models(tmp_path: Path) -> dict[str, Path]:
    return {
        "pix2pix": save_untrained_model(tmp_path / "p2p", "pix2pix", **TINY_PIX2PIX),
        "cyclegan": save_untrained_model(tmp_path / "cycle", "cyclegan", **TINY_CYCLEGAN),
        "gan": save_untrained_model(tmp_path / "gan", "gan", **TINY_GAN),
        "cgan": save_untrained_model(
            tmp_path / "cgan", "gan", **TINY_GAN, conditional=True, num_classes=3
        ),
    }


@pytest.fixture
def backend(tiny_models: dict[str, Path], tmp_path: Path) -> DemoBackend:
    infos = [describe_model(path) for path in tiny_models.values()]
    return DemoBackend(infos, max_pixels=48 * 48, device="cpu", output_dir=tmp_path / "out")


def test_fit_pixels_downscales_to_the_limit_keeping_the_aspect_ratio():
    image = Image.new("RGB", (200, 100))
    small, note = fit_pixels(image, 5000)  # factor sqrt(5000 / 20000) = 0.5
    assert small.size == (100, 50)
    assert "200x100" in note and "5,000 pixels" in note and "100x50" in note
    assert fit_pixels(image, 20000) == (image, "")


def test_translation_tab_runs_the_model_and_reports_downscaling(backend, tiny_models, tmp_path):
    name = str(tiny_models["pix2pix"])
    small = write_image(tmp_path / "small.png", 40, 32)
    output, status = backend.translate(name, None, str(small))
    assert np.array_equal(np.asarray(output), np.asarray(img2img.translate(str(small), name)))
    assert status == f"Translated with {name}."

    large = write_image(tmp_path / "large.png", 96, 96)  # 4x the 48 x 48 limit
    output, status = backend.translate(name, None, str(large))
    assert output.size == (48, 48)
    assert status.startswith("The input (96x96) is over this demo's limit of 2,304 pixels")


def test_translation_tab_uses_the_chosen_direction_of_a_two_way_model(
    backend, tiny_models, tmp_path
):
    name = str(tiny_models["cyclegan"])
    source = str(write_image(tmp_path / "in.png", 32, 32))
    for direction in ("AtoB", "BtoA"):
        output, status = backend.translate(name, direction, source)
        expected = img2img.load(name, device="cpu", direction=direction)(source)
        assert np.array_equal(np.asarray(output), np.asarray(expected))
        assert status.endswith(f"({direction}).")
    a_to_b = backend.translate(name, "AtoB", source)[0]
    assert not np.array_equal(
        np.asarray(a_to_b), np.asarray(backend.translate(name, "BtoA", source)[0])
    )


def test_bad_uploads_raise_a_message_for_the_page_naming_the_file(backend, tiny_models, tmp_path):
    name = str(tiny_models["pix2pix"])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(write_image(tmp_path / "whole.png", 32, 32).read_bytes()[:200])
    cases = {
        None: "Upload an image first",
        str(text): "Cannot use notes.png: not an image in a format img2img reads",
        str(truncated): "Cannot use cut.png: cannot decode image",
    }
    for path, message in cases.items():
        with pytest.raises(gr.Error, match=message):
            backend.translate(name, None, path)
    with pytest.raises(gr.Error, match=f"Unknown model 'nope'; choose one of: {name}, "):
        backend.translate("nope", None, str(text))


class DoublingTranslator:
    """A stand-in x2 super-resolution model: nearest-neighbour upscaling."""

    config = SimpleNamespace(scale=2)

    def __call__(self, image: Image.Image) -> Image.Image:
        return image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)


def test_super_resolution_tab_compares_with_bicubic_and_saves_the_full_result(tmp_path):
    model = save_untrained_model(tmp_path / "sr", "pix2pix", **TINY_PIX2PIX)
    sr = replace(describe_model(model), task="srgan")  # an SR tab entry; the loader is a stub
    backend = DemoBackend(
        [sr], max_pixels=4 * 16 * 16, device="cpu", loader=lambda *_: DoublingTranslator()
    )
    (before, after), download, status = backend.super_resolve(
        sr.name, str(write_image(tmp_path / "lr.png", 12, 10))
    )
    assert after.size == before.size == (24, 20)
    assert np.array_equal(np.asarray(Image.open(download)), np.asarray(after))
    assert Path(download).name == "lr_sr_x2.png"
    assert status == f"12x10 -> 24x20 with {sr.name}."
    # The limit is on the output: a 32 x 32 input (64 x 64 out) shrinks to 16 x 16.
    (_, after), _, status = backend.super_resolve(
        sr.name, str(write_image(tmp_path / "big.png", 32, 32))
    )
    assert after.size == (32, 32) and "downscaled to 16x16" in status


def test_gan_tab_samples_reproducibly_by_seed_and_class(backend, tiny_models):
    cgan, gan = str(tiny_models["cgan"]), str(tiny_models["gan"])
    assert backend.class_choices(cgan) == [ALL_CLASSES, "0", "1", "2"]
    assert backend.class_choices(gan) == []

    grid, strip, status = backend.sample(cgan, 3, "2", 4, 2, 5)
    again = backend.sample(cgan, 3, "2", 4, 2, 5)[0]
    other = backend.sample(cgan, 4, "2", 4, 2, 5)[0]
    pixels = [np.asarray(Image.open(p)) for p in (grid, again, other)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[0], pixels[2])
    assert status == f"4 samples of class 2 from {cgan}, seed 3."
    # Two rows of five 28 px images with torchvision's 2 px padding.
    assert Image.open(strip).size == (5 * 30 + 2, 2 * 30 + 2)

    grid, strip, _ = backend.sample(gan, 0, None, 9, 0, 5)
    assert Image.open(grid).size == (3 * 30 + 2, 3 * 30 + 2) and strip is None
    with pytest.raises(gr.Error, match="needs a class-conditional model"):
        backend.sample(gan, 0, "1", 4, 0, 5)


def test_build_demo_makes_one_tab_per_task_and_notes_empty_ones(tiny_models):
    def markdown(demo) -> str:
        return "\n".join(
            str(block.value) for block in demo.blocks.values() if isinstance(block, gr.Markdown)
        )

    demo = build_demo([tiny_models["pix2pix"]], device="cpu")
    tabs = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Image translation", "Super-resolution", "GAN sampling"]
    assert "No super-resolution model is loaded" in markdown(demo)
    assert "No GAN model is loaded" in markdown(demo)
    assert "No image translation model" not in markdown(demo)
    assert demo.backend.names("translate") == [str(tiny_models["pix2pix"])]

    queued = build_demo([tiny_models["gan"]], device="cpu", concurrency=2, queue_size=5)
    assert (queued._queue.default_concurrency_limit, queued._queue.max_size) == (2, 5)
    with pytest.raises(FileNotFoundError, match="nope: not a model directory"):
        build_demo(["nope"])


def test_demo_command_reports_an_unknown_model(capsys):
    from img2img.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["demo", "--model", "nope"])
    assert caught.value.code == 2
    assert "nope: not a model directory" in capsys.readouterr().err
