"""The web demo in a real browser: Debian's chromium driven by Playwright.

CI installs chromium (``.ci/run``); where it or the ``playwright`` package is missing the
test skips saying which. No ``playwright install``: the system chromium is used.
"""

from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
LABEL_MAP = Path(__file__).resolve().parents[1] / "examples" / "facade_label.png"
MODEL = "facades-label2photo"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (the test extra)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"{CHROMIUM} not found (apt-get install chromium)"
)


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
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text")
    label_map = shutil.copy(LABEL_MAP, tmp_path / "label.png")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(demo_url)
        upload = page.locator("#translation-input input[type=file]")
        translate = page.get_by_role("button", name="Translate")

        # A text file named .png: a message in the page, and the app keeps working.
        upload.set_input_files(not_an_image)
        translate.click()
        sync_api.expect(
            page.get_by_text("Cannot use notes.png: not an image in a format img2img reads")
        ).to_be_visible(timeout=30_000)

        upload.set_input_files(label_map)
        page.locator("#translation-input img").wait_for(timeout=30_000)
        translate.click()
        status = page.locator("#translation-status")
        sync_api.expect(status).to_contain_text(f"Translated with {MODEL}.", timeout=60_000)
        output = page.locator("#translation-output img")
        shown = page.request.get(output.get_attribute("src")).body()
        page.screenshot(path=tmp_path / "demo.png", full_page=True)
        browser.close()

    result = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB"), dtype=float)
    source = np.asarray(Image.open(LABEL_MAP).convert("RGB"), dtype=float)
    assert result.shape == source.shape == (256, 256, 3)
    assert np.abs(result - source).mean() > 20  # a photo, not the label map back
    assert (tmp_path / "demo.png").stat().st_size > 10_000
