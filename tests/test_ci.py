"""CI cannot pass without the browser test: under ``CI=true`` a missing chromium fails both
``.ci/install-chromium`` (so ``.ci/run`` stops) and the browser test module; elsewhere the
test skips with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_browser_module(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": ci, "IMG2IMG_CHROMIUM": str(tmp_path / "no-chromium")}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    command.append(str(ROOT / "tests" / "test_demo_browser.py"))
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_browser_test_fails_under_ci_without_chromium_and_skips_elsewhere(tmp_path: Path) -> None:
    pytest.importorskip("playwright", reason="the playwright package is not installed")
    in_ci = run_browser_module(tmp_path, "true")
    assert in_ci.returncode != 0, in_ci.stdout[-2000:]
    assert "CI is set but the browser test cannot run" in in_ci.stdout
    assert "no-chromium not found" in in_ci.stdout
    local = run_browser_module(tmp_path, "")
    # 5: "no tests ran" (the module skipped); in the whole suite that is simply a skip.
    assert local.returncode in (0, 5), local.stdout[-2000:]
    assert "1 skipped" in local.stdout and "no-chromium not found" in local.stdout


@pytest.mark.parametrize(("ci", "status"), [("true", 1), ("", 0)])
def test_ci_chromium_step_fails_only_under_ci(tmp_path: Path, ci: str, status: int) -> None:
    # No apt-get on PATH: the install cannot happen, as on a CI image without root or mirror.
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "CI": ci, "IMG2IMG_CHROMIUM": str(tmp_path / "no-chromium")}
    script = ROOT / ".ci" / "install-chromium"
    done = subprocess.run(["/bin/bash", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == status, done.stderr
    expected = "the browser test cannot run" if ci else "the browser test will skip"
    assert expected in done.stderr
