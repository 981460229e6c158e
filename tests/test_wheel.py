"""The wheel as a user installs it: built from this checkout, installed in a fresh venv
outside it, lists and runs every shipped model and finds the demo's examples
(``.ci/wheel-check``; CI runs it through this test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from img2img.saved_models import shipped_folder

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_its_top_level_folders() -> None:
    # The wheel's copy (img2img/_shipped) exists only in an installed wheel.
    assert shipped_folder("weights") == ROOT / "weights"
    assert shipped_folder("examples") == ROOT / "examples"


def test_the_wheel_runs_every_shipped_model() -> None:
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    done = subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "wheel-check"), sys.executable],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "label2photo.png" in done.stdout
    for model in sorted(p.name for p in (ROOT / "weights").iterdir() if p.is_dir()):
        assert f"ran {model} " in done.stdout
