"""The web demo's functions, called directly (no server, no browser): each tab's result,
the pixel limit, and clear messages for bad uploads."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TINY_CYCLEGAN, TINY_GAN, TINY_PIX2PIX, save_untrained_model
from PIL import Image

gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.usefixtures("one_thread")

from gradio.utils import get_upload_folder  # noqa: E402

import img2img  # noqa: E402
from img2img.catalog import describe_model  # noqa: E402
from img2img.demo import (  # noqa: E402
    ALL_CLASSES,
    MIN_SIDE,
    DemoBackend,
    build_demo,
    fit_pixels,
)
from img2img.demo.backend import upload_path  # noqa: E402
from img2img.demo.tabs import in_page  # noqa: E402


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


def test_an_over_size_upload_gets_a_visitor_message_without_server_paths(
    backend, tiny_models, tmp_path
):
    # 48 x 48 limit: files decoding to over 16 x 2,304 pixels are refused from their header.
    large = tmp_path / "large.png"
    Image.new("RGB", (200, 200)).save(large)
    with pytest.raises(gr.Error) as caught:
        backend.translate(str(tiny_models["pix2pix"]), None, str(large))
    assert caught.value.message == (
        "Cannot use large.png: 200x200 pixels is more than this demo reads (36,864 pixels); "
        "downscale it and upload it again."
    )
    photo = tmp_path / "photo.jpg"  # a JPEG decodes at 1/8 scale (50 x 50), within it
    Image.new("RGB", (400, 400), (200, 30, 30)).save(photo)
    image, note = backend.read_input(str(photo), backend.max_pixels)
    assert image.size == (48, 48) and "downscaled" in note


# Reads two uploads over the decode budget of a demo limited to 256 x 256 pixels (1 Mpx):
# a 6000 x 4000 JPEG (72 MB decoded) and a 4000 x 4000 RGBA PNG (64 MB decoded), and prints
# how much each raised the process's peak memory.
PEAK_MEMORY_CHILD = """
import resource, sys
from img2img.demo import DemoBackend

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

backend = DemoBackend([], max_pixels=256 * 256, device="cpu", output_dir=sys.argv[1])
backend.read_input(sys.argv[2], backend.max_pixels)  # warm up PIL's decoders
for path in sys.argv[3:]:
    before = peak()
    try:
        backend.read_input(path, backend.max_pixels)
    except Exception:
        pass
    print(peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="ru_maxrss in KiB: Linux")
def test_reading_an_over_size_upload_keeps_memory_within_the_demo_limit(tmp_path):
    """Peak memory of reading an upload is bounded by the demo's own limit, not by the
    library's MAX_PIXELS: within DECODE_FACTOR x the limit x 16 bytes (RGBA and its
    conversions), plus 32 MB of allocator slack. Measured in a fresh process (before the
    fix: 86 and 192 MB over a bound of 48 MB)."""
    import subprocess
    import sys

    from img2img.demo import DECODE_FACTOR

    small, photo, drawing = tmp_path / "small.jpg", tmp_path / "photo.jpg", tmp_path / "big.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(small)
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(photo)
    Image.new("RGBA", (4000, 4000), (0, 90, 0, 128)).save(drawing)
    result = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_CHILD, str(tmp_path / "out"), small, photo, drawing],
        capture_output=True,
        text=True,
        check=True,
    )
    bound = DECODE_FACTOR * 256 * 256 * 16 + 32 * 2**20
    growth = [int(line) for line in result.stdout.split()]
    assert len(growth) == 2 and max(growth) < bound, (growth, bound)


def test_inputs_below_the_minimum_size_are_refused(backend, tiny_models, tmp_path):
    name = str(tiny_models["pix2pix"])
    tiny = write_image(tmp_path / "dot.png", 1, 1)
    with pytest.raises(gr.Error, match=f"dot.png: 1x1 pixels is too small; .* {MIN_SIDE} pixels"):
        backend.translate(name, None, str(tiny))
    thin = write_image(tmp_path / "thin.png", 40, MIN_SIDE - 1)
    with pytest.raises(gr.Error, match="too small"):
        backend.translate(name, None, str(thin))
    assert backend.translate(name, None, str(write_image(tmp_path / "ok.png", MIN_SIDE, 40)))


def test_every_input_is_validated_with_a_visitor_message(backend, tiny_models, tmp_path, caplog):
    """What an API client may send instead of the page's values: each is refused with a
    message for a visitor (no Python or pydantic text), logged as one line."""
    p2p, cycle = str(tiny_models["pix2pix"]), str(tiny_models["cyclegan"])
    gan, cgan = str(tiny_models["gan"]), str(tiny_models["cgan"])
    image = str(write_image(tmp_path / "in.png", 32, 32))
    refused = {
        "Unknown model \\['a'\\]; choose one of": lambda: backend.translate(["a"], None, image),
        "Unknown model 3;": lambda: backend.sample(3, 0, None, 1, 0, 2),
        f"Unknown model '{p2p}'": lambda: backend.sample(p2p, 0, None, 1, 0, 2),
        "Unknown direction 'sideways'; choose one of: AtoB, BtoA": lambda: backend.translate(
            cycle, "sideways", image
        ),
        "must be an uploaded file": lambda: upload_path("/etc/hostname"),  # a server path
        "The image must be an uploaded file": lambda: upload_path({"url": 5}),
        "The image must be an uploaded file \\(": lambda: upload_path({"path": image}),
        "The seed must be a whole number from 0 to 4,294,967,295; got -1": lambda: backend.sample(
            gan, -1, None, 1, 0, 2
        ),
        "The seed .* got nan": lambda: backend.sample(gan, float("nan"), None, 1, 0, 2),
        "The seed .* got 1.5": lambda: backend.sample(gan, 1.5, None, 1, 0, 2),
        "The seed .* got '3'": lambda: backend.sample(gan, "3", None, 1, 0, 2),
        "number of samples must be a whole number from 1 to 64; got 0": lambda: backend.sample(
            gan, 0, None, 0, 0, 2
        ),
        "number of samples .* got 1e\\+300": lambda: backend.sample(gan, 0, None, 1e300, 0, 2),
        "interpolation rows .* from 0 to 4; got 5": lambda: backend.sample(gan, 0, None, 1, 5, 2),
        "images per row .* from 2 to 12; got True": lambda: backend.sample(
            gan, 0, None, 1, 1, True
        ),
        "Unknown class '3'; choose one of: 0, 1, 2": lambda: backend.sample(cgan, 0, "3", 1, 0, 2),
        "Unknown class \\[1\\]": lambda: backend.sample(cgan, 0, [1], 1, 0, 2),
        "is not class-conditional: it takes no class": lambda: backend.sample(gan, 0, "1", 1, 0, 2),
    }
    for message, call in refused.items():
        caplog.clear()
        with pytest.raises(gr.Error, match=message) as caught:
            call()
        assert not caught.value.print_exception  # no traceback in the server log
        assert [r.getMessage() for r in caplog.records] == [f"refused: {caught.value.message}"]
    upload = Path(get_upload_folder()) / "in.png"
    assert upload_path(None) is None and upload_path({"path": str(upload)}) == str(upload)
    assert backend.sample(cgan, 0, ALL_CLASSES, 1, 0, 2)[2].startswith("1 sample from")


def test_a_refused_run_in_the_page_empties_the_outputs_and_says_why(caplog):
    def refused(*_):
        raise gr.Error("Upload an image first.")

    def broken(*_):
        raise RuntimeError("a bug")

    assert in_page(lambda x: ("image", f"done {x}"), 2)(1) == ("image", "done 1")
    with pytest.warns(UserWarning, match="Upload an image first"):  # the toast, off a server
        assert in_page(refused, 3)("a", "b") == (None, None, "Error: Upload an image first.")
    caplog.clear()
    with pytest.warns(UserWarning):
        assert in_page(broken, 2)() == (
            None,
            "Error: The server failed on this request; its log says why.",
        )
    assert "RuntimeError: a bug" in caplog.text  # an unexpected failure keeps its traceback


class DoublingTranslator:
    """A stand-in x2 super-resolution model: nearest-neighbour upscaling."""

    config = SimpleNamespace(scale=2)

    def __call__(self, image: Image.Image) -> Image.Image:
        return image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)


def test_super_resolution_tab_compares_with_bicubic_and_saves_the_full_result(tmp_path):
    model = save_untrained_model(tmp_path / "sr", "pix2pix", **TINY_PIX2PIX)
    sr = replace(describe_model(model), task="srgan")  # an SR tab entry; the loader is a stub
    backend = DemoBackend(
        [sr], max_pixels=4 * 32 * 32, device="cpu", loader=lambda *_: DoublingTranslator()
    )
    (before, after), download, status = backend.super_resolve(
        sr.name, str(write_image(tmp_path / "lr.png", 20, 16))
    )
    assert after.size == before.size == (40, 32)
    assert np.array_equal(np.asarray(Image.open(download)), np.asarray(after))
    assert Path(download).name == "lr_sr_x2.png"
    assert status == f"20x16 -> 40x32 with {sr.name}."
    # The limit is on the output: a 64 x 64 input (128 x 128 out) shrinks to 32 x 32.
    (_, after), _, status = backend.super_resolve(
        sr.name, str(write_image(tmp_path / "big.png", 64, 64))
    )
    assert after.size == (64, 64) and "downscaled to 32x32" in status


def test_gan_tab_samples_reproducibly_by_seed_and_class(backend, tiny_models):
    cgan, gan = str(tiny_models["cgan"]), str(tiny_models["gan"])
    assert backend.class_choices(cgan) == [ALL_CLASSES, "0", "1", "2"]
    assert backend.class_choices(gan) == []

    grid, strip, status = backend.sample(cgan, 3, "2", 4, 2, 5)
    again = backend.sample(cgan, 3, "2", 4, 2, 5)[0]
    other = backend.sample(cgan, 4, "2", 4, 2, 5)[0]
    pixels = [np.asarray(Image.open(p)) for p in (grid, again, other)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[0], pixels[2])
    assert (
        status
        == f"4 samples of class 2 from {cgan}, seed 3. Enlarged for display (nearest neighbour)."
    )
    # Two rows of five 28 px images with torchvision's 2 px padding, enlarged 4x for the page
    # (the smallest whole factor reaching 512 px) by repeating each pixel.
    shown = np.asarray(Image.open(strip))
    assert shown.shape[:2] == (4 * (2 * 30 + 2), 4 * (5 * 30 + 2))
    assert np.array_equal(shown, shown[::4, ::4].repeat(4, axis=0).repeat(4, axis=1))

    grid, strip, status = backend.sample(gan, 0, None, 1, 0, 5)
    assert Image.open(grid).size == (19 * 28, 19 * 28) and strip is None  # one 28 px image
    assert status == f"1 sample from {gan}, seed 0. Enlarged for display (nearest neighbour)."


def test_build_demo_makes_one_tab_per_task_and_notes_empty_ones(tiny_models):
    def markdown(demo) -> str:
        return "\n".join(
            str(block.value) for block in demo.blocks.values() if isinstance(block, gr.Markdown)
        )

    demo = build_demo([tiny_models["pix2pix"]], device="cpu")
    tabs = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == [
        "Image translation", "Super-resolution", "GAN sampling", "Inpainting", "Autoencoder",
        "GAN Lab",
    ]  # fmt: skip
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


def test_request_folders_are_bounded_in_number_and_age(tmp_path):
    import time

    backend = DemoBackend([], device="cpu", output_dir=tmp_path, keep_requests=3)
    now, folders = time.time(), []
    for age in (50, 40, 30, 20, 10):  # seconds ago, oldest first
        folders.append(backend.request_folder())
        os.utime(folders[-1], (now - age, now - age))
    newest = backend.request_folder()
    assert set(tmp_path.iterdir()) == {folders[-2], folders[-1], newest}

    backend.keep_requests = 10
    os.utime(folders[-2], (now - 3601, now - 3601))  # over keep_seconds (an hour)
    again = backend.request_folder()
    assert set(tmp_path.iterdir()) == {folders[-1], newest, again}


def test_the_default_output_folder_is_removed_with_the_backend():
    import gc

    backend = DemoBackend([], device="cpu")
    folder = backend.output_dir
    (backend.request_folder() / "result.png").write_bytes(b"png")
    del backend
    gc.collect()
    assert not folder.exists()


def test_the_app_cleans_gradios_cache(tiny_models):
    from img2img.demo import CACHE_CLEANUP

    assert build_demo([tiny_models["pix2pix"]], device="cpu").delete_cache == CACHE_CLEANUP


def test_demo_command_bounds_concurrency_and_the_queue(tiny_models, monkeypatch, capsys):
    from img2img import demo
    from img2img.cli import main

    built = {}
    monkeypatch.setattr(demo, "launch", lambda app, **_: built.setdefault("app", app))
    main(["demo", "--model", str(tiny_models["gan"]), "--device", "cpu", "--queue-size", "3"])
    queue = built["app"]._queue
    assert (queue.default_concurrency_limit, queue.max_size) == (1, 3)
    with pytest.raises(SystemExit):
        main(["demo", "--concurrency", "0"])
    assert "'0': must be a whole number of at least 1" in capsys.readouterr().err


def test_the_demo_server_removes_its_files_when_stopped(tiny_models, tmp_path):
    """SIGTERM stops ``img2img demo`` as Ctrl-C does: no demo output folder and no file of
    a request (upload, result) is left in its temporary folder; Gradio keeps its copy of the
    bundled example."""
    import signal
    import socket
    import subprocess
    import sys

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    upload = write_image(tmp_path / "in.png", 32, 32)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "img2img",
            "demo",
            "--model",
            str(tiny_models["pix2pix"]),
            "--device",
            "cpu",
            "--port",
            str(port),
        ],
        env={
            **os.environ,
            "TMPDIR": str(temporary),
            "GRADIO_TEMP_DIR": "",
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = iter(server.stdout.readline, "")
        url = next(line for line in lines if "Running on local URL" in line).split()[-1]
        from gradio_client import Client, handle_file

        Client(url, verbose=False).predict(handle_file(str(upload)), api_name="/translate")
        assert any(temporary.glob("img2img-demo-*/request-*/output.png"))
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
    assert list(temporary.iterdir()) in ([], [temporary / "gradio"])
    left = {f.name for f in temporary.rglob("*") if f.is_file()}
    assert left <= {"facade_label.png"}
