"""The web demo in a real browser: Debian's chromium driven by Playwright.

CI installs chromium (``.ci/run``). Where it or the ``playwright`` package is missing the
test skips saying which, except under CI (``CI=true``), where a browser test that cannot
run is a failure: CI must not pass without it. No ``playwright install``: the system
chromium is used (``IMG2IMG_CHROMIUM`` names another binary).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path(os.environ.get("IMG2IMG_CHROMIUM", "/usr/bin/chromium"))
LABEL_MAP = Path(__file__).resolve().parents[1] / "examples" / "facade_label.png"
MODEL = "facades-label2photo"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip the module, or under CI fail it: CI must run the browser test."""
    if IN_CI:
        pytest.fail(f"CI is set but the browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api
except ImportError:
    unavailable("the playwright package is not installed (the test extra)")
if not CHROMIUM.is_file():
    unavailable(f"{CHROMIUM} not found (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_url():
    from img2img.demo import build_demo, launch
    from img2img.saved_models import WEIGHTS_DIR

    if not (WEIGHTS_DIR / MODEL).is_dir():
        pytest.skip(f"shipped model {MODEL} not found in {WEIGHTS_DIR}")
    port = free_port()
    demo = launch(build_demo([MODEL], device="cpu"), port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_upload_a_label_map_and_get_a_translation(demo_url: str, tmp_path: Path):
    from img2img import translate as translate_file

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text")
    too_large = tmp_path / "huge.png"  # 20 Mpx: over the demo's decode budget (16 Mpx)
    Image.new("RGB", (5000, 4000), (90, 120, 200)).save(too_large)
    label_map = shutil.copy(LABEL_MAP, tmp_path / "label.png")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(demo_url)
        upload = page.locator("#translation-input input[type=file]")
        translate = page.get_by_role("button", name="Translate")
        status = page.locator("#translation-status")
        output = page.locator("#translation-output img")

        def run(path: Path, expected: str) -> None:
            upload.set_input_files(path)
            page.locator("#translation-input img").wait_for(timeout=30_000)
            translate.click()
            sync_api.expect(status).to_contain_text(expected, timeout=60_000)

        run(label_map, f"Translated with {MODEL}.")
        sync_api.expect(output).to_have_count(1)

        # A text file named .png: the message replaces the last result, which is cleared.
        run(not_an_image, "Error: Cannot use notes.png: not an image in a format img2img reads")
        sync_api.expect(status).not_to_contain_text("Translated with")
        sync_api.expect(output).to_have_count(0)

        # An over-size upload: refused by its name, no server path, no developer advice.
        run(too_large, "Cannot use huge.png: 5000x4000 pixels is more than this demo reads")
        assert "/" not in status.inner_text() and "MAX_PIXELS" not in status.inner_text()

        # And the app keeps working.
        run(label_map, f"Translated with {MODEL}.")
        shown = page.request.get(output.get_attribute("src")).body()
        page.screenshot(path=tmp_path / "demo.png", full_page=True)
        browser.close()

    result = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB"), dtype=float)
    source = np.asarray(Image.open(LABEL_MAP).convert("RGB"), dtype=float)
    assert result.shape == source.shape == (256, 256, 3)

    # The page shows the shipped model's translation (what `translate` gives for the same
    # file), and that translation is far from what untrained generators of the same config
    # produce: farther from each of three than they are from one another, so an untrained
    # weights file (a fourth such generator) would fail here.
    def translated(model) -> np.ndarray:
        image = translate_file(str(LABEL_MAP), model, device="cpu").convert("RGB")
        return np.asarray(image, dtype=float)

    untrained = [translated(untrained_model(tmp_path / f"untrained{s}", s)) for s in range(3)]
    assert np.abs(result - translated(MODEL)).mean() < 2  # 8-bit levels (page encoding)
    spread = max(np.abs(a - b).mean() for i, a in enumerate(untrained) for b in untrained[:i])
    distances = [np.abs(result - other).mean() for other in untrained]
    assert min(distances) > 1.5 * spread, (distances, spread)  # about 46 vs 1.5 x 24 shipped
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def untrained_model(out: Path, seed: int) -> Path:
    """A model directory with the shipped model's config and weights initialised as a
    training run starting from ``seed`` would have them."""
    import torch

    from img2img.checkpoint import load_model_files, save_model
    from img2img.config import merge
    from img2img.saved_models import WEIGHTS_DIR
    from img2img.tasks import get_task

    values, _ = load_model_files(WEIGHTS_DIR / MODEL)
    recipe = get_task(values["task"])
    config = merge(recipe.Config, {**values, "device": "cpu"})
    torch.manual_seed(seed)
    task = recipe(config, total_steps=1, decay_steps=0, device=torch.device("cpu"))
    save_model(out, config, task.generator)
    return out


@pytest.fixture
def lab_url():
    """The demo with no model: its GAN Lab tab needs none."""
    from img2img.demo import build_demo, launch

    port = free_port()
    demo = launch(build_demo([], device="cpu"), port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_gan_lab_plays_pauses_steps_draws_and_exports(lab_url: str, tmp_path: Path):
    """Play until the iteration count and the modes covered rise, pause (the count stays),
    single-step, draw a target of three strokes, reset on it, export and resume the export
    with the CLI."""
    import re
    import zipfile

    from img2img.checkpoint import load_training_state
    from img2img.cli import main

    def counts(text: str) -> tuple[int, int, int]:
        found = re.search(
            r"iteration (\d+), D updates (\d+), G updates (\d+); modes covered (\d+)", text
        )
        assert found, text
        return tuple(int(g) for g in found.groups())

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(lab_url)
        page.get_by_role("tab", name="GAN Lab").click()
        status = page.locator("#lab-status")
        page.get_by_label("Seed").fill("2")  # a seed whose first modes come early
        page.locator("#lab-play").click()
        # The count rises while playing, and so does the coverage (the views redraw too).
        sync_api.expect(status).to_contain_text(
            re.compile(r"modes covered [1-8]/8"), timeout=30_000
        )
        first = counts(status.inner_text())
        sync_api.expect(status).not_to_contain_text(f"iteration {first[0]},", timeout=10_000)
        page.locator("#lab-pause").click()
        page.wait_for_timeout(1500)  # a tick already under way may still land
        paused = counts(status.inner_text())
        page.wait_for_timeout(1000)
        assert counts(status.inner_text()) == paused and paused[0] > first[0] > 0
        assert page.locator("#lab-views .lab-run").get_attribute("data-step") == str(paused[0])

        page.locator("#lab-d-step").click()  # one D update, not an iteration
        sync_api.expect(status).to_contain_text(f"D updates {paused[1] + 1},")
        assert counts(status.inner_text())[0] == paused[0]
        page.locator("#lab-iteration").click()
        sync_api.expect(status).to_contain_text(f"iteration {paused[0] + 1},")

        page.get_by_label("drawn points").check()
        pad = page.locator("#lab-pad canvas")
        box = pad.bounding_box()
        for row in (0.3, 0.5, 0.7):  # three strokes across the pad
            page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + row * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + row * box["height"], steps=12)
            page.mouse.up()
        drawn = int(page.locator("#lab-pad .lab-pad-count").inner_text().split()[0])
        assert drawn >= 9
        page.locator("#lab-reset").click()
        sync_api.expect(status).to_contain_text(
            re.compile(rf"iteration 0, D updates 0, G updates 0; modes covered \d+/{drawn},")
        )
        # One click at a time: a click while the button's last event still runs is dropped
        # (Gradio's default trigger_mode "once"), as it would be for a user.
        page.locator("#lab-iteration").click()
        sync_api.expect(status).to_contain_text("iteration 1,")
        page.locator("#lab-iteration").click()
        sync_api.expect(status).to_contain_text("iteration 2,")

        page.locator("#lab-export").click()
        sync_api.expect(status).to_contain_text("--data gan-lab-A/target.csv", timeout=20_000)
        link = page.locator("#lab-download a").first
        archive = tmp_path / "gan-lab.zip"
        archive.write_bytes(page.request.get(link.get_attribute("href")).body())
        browser.close()

    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path)
    run = tmp_path / "gan-lab-A"
    main(["train", "--resume", str(run), "--data", str(run / "target.csv"), "--max-steps", "4"])
    assert load_training_state(run)["step"] == 4
