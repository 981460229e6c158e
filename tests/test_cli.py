"""The command line as a user runs it: train, Ctrl-C, resume, translate, config files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY_PIX2PIX, cli_flags
from PIL import Image

from img2img.checkpoint import load_training_state
from img2img.saved_models import read_config

TINY = [*cli_flags(TINY_PIX2PIX), "--log-every", "1", "--num-samples", "2"]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "img2img", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_yaml_config_and_flags_resolve_and_are_saved(paired_dataset: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump({"ngf": 4, "gan_mode": "lsgan", "max_steps": 2}))
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "--task",
        "pix2pix",
        "--data",
        str(paired_dataset),
        "--out",
        str(out),
        "--config",
        str(config_file),
        *TINY[6:],
        "--image-size",
        "32",
        "--load-size",
        "36",
        "--norm",
        "instance",
        "--batch-size",
        "2",
    )
    saved = read_config(out)
    assert saved["ngf"] == 4 and saved["objective"] == "lsgan"  # YAML's old name gan_mode
    assert saved["norm"] == "instance" and saved["batch_size"] == 2  # from flags
    assert "objective" in result.stdout + result.stderr  # resolved config printed at start
    assert yaml.safe_load((out / "config.yaml").read_text())["norm"] == "instance"


def test_bad_option_values_name_the_option(paired_dataset: Path, tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(paired_dataset), "--objective", "nope", check=False)
    assert result.returncode != 0 and "--objective/--gan-mode" in result.stderr
    config_file = tmp_path / "c.yaml"
    config_file.write_text("ngff: 3\n")
    result = run_cli(
        "train", "--data", str(paired_dataset), "--config", str(config_file), check=False
    )
    assert result.returncode != 0 and "ngff" in result.stderr


def test_ctrl_c_saves_and_resume_continues(paired_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "img2img",
        "train",
        "--data",
        str(paired_dataset),
        "--out",
        str(out),
        "--save-every",
        "100000",
        "--sample-every",
        "100000",
        *TINY,
        "--num-workers",
        "2",
    ]
    # Its own process group, signalled as a whole, as a terminal's Ctrl-C does (workers too).
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    log = out / "losses.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.05)  # a double delivery (timeout -s INT does this) is still one request
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    stopped_at = load_training_state(out)["step"]
    assert stopped_at >= 3, "the interrupted run must checkpoint the steps it finished"

    run_cli("train", "--resume", str(out), "--max-steps", str(stopped_at + 2))
    assert load_training_state(out)["step"] == stopped_at + 2

    label = tmp_path / "label.png"
    Image.new("RGB", (50, 40), (10, 200, 30)).save(label)
    run_cli("translate", "--model", str(out), str(label), "-o", str(tmp_path / "photo.png"))
    assert Image.open(tmp_path / "photo.png").size == (50, 40)


def test_translate_reports_a_corrupt_input(paired_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_cli("train", "--data", str(paired_dataset), "--out", str(out), "--max-steps", "1", *TINY)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    result = run_cli(
        "translate", "--model", str(out), str(broken), "-o", str(tmp_path / "x.png"), check=False
    )
    assert result.returncode == 1
    assert "broken.png" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="uses POSIX paths")
def test_readme_test_command_is_what_ci_runs() -> None:
    root = Path(__file__).resolve().parents[1]
    ci_lines = [line.strip() for line in (root / ".ci" / "run").read_text().splitlines()]
    command = next(line for line in ci_lines if "pytest" in line)
    assert command in (root / "README.md").read_text()


def test_translate_names_an_over_size_input_once(tmp_path: Path, monkeypatch, capsys) -> None:
    from conftest import save_untrained_model

    from img2img import images
    from img2img.cli import main

    model = save_untrained_model(tmp_path / "model", "pix2pix", **TINY_PIX2PIX)
    large = tmp_path / "large.png"
    Image.new("RGB", (20, 20)).save(large)
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(SystemExit):
        main(["translate", "--model", str(model), str(large), "-o", str(tmp_path / "x.png")])
    error = capsys.readouterr().err
    assert error.count(str(large)) == 1 and "raise img2img.images.MAX_PIXELS" in error
