"""The srgan recipe: both phases, exact resume across the phase switch, --init-from, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import cli_flags, make_hr_images
from safetensors.torch import load_file

from img2img.checkpoint import load_training_state
from img2img.config import merge
from img2img.tasks.srgan import SRGANConfig
from img2img.train import Trainer

# The smallest SRGAN that runs every part: x2, 16 px HR crops, one block, narrow nets.
TINY_SRGAN = {
    "scale": 2,
    "image_size": 16,
    "batch_size": 2,
    "blocks": 1,
    "channels": 8,
    "d_channels": 8,
    "perceptual_layer": "conv_1",
    "num_workers": 0,
    "device": "cpu",
    "log_every": 1,
    "num_samples": 2,
}


@pytest.fixture
def hr_folder(tmp_path: Path) -> Path:
    return make_hr_images(tmp_path / "hr", [(40, 32), (32, 48), (36, 36), (48, 40)])


def tiny(data: Path, out: Path, **overrides) -> SRGANConfig:
    values = {"data": str(data), "out": str(out), **TINY_SRGAN, **overrides}
    return merge(SRGANConfig, values)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "generator.safetensors")


def test_resume_across_the_phase_switch_is_exact(hr_folder: Path, tmp_path: Path) -> None:
    options = {"phase": "both", "psnr_steps": 2, "max_steps": 4}
    Trainer(tiny(hr_folder, tmp_path / "straight", **options)).fit()
    Trainer(tiny(hr_folder, tmp_path / "resumed", **{**options, "max_steps": 3})).fit()
    Trainer(tiny(hr_folder, tmp_path / "resumed", **options), resume=True).fit()
    straight, resumed = (load_training_state(tmp_path / run) for run in ("straight", "resumed"))
    assert straight["task"]["iteration"] == resumed["task"]["iteration"] == 4
    for part in ("generator", "adversary"):
        for key, value in straight["task"][part].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, resumed["task"][part][key]), (part, key)
    log = (tmp_path / "straight" / "losses.jsonl").read_text().splitlines()
    assert "d_loss" not in log[1] and "d_loss" in log[2]  # the GAN phase starts at step 3


def test_gan_phase_starts_from_a_psnr_model(hr_folder: Path, tmp_path: Path) -> None:
    psnr_run = Trainer(tiny(hr_folder, tmp_path / "psnr", phase="psnr", max_steps=2)).fit()
    config = tiny(hr_folder, tmp_path / "gan", phase="gan", init_from=str(psnr_run), max_steps=0)
    start = Trainer(config).task.generator.state_dict()
    assert all(torch.equal(start[k], v) for k, v in weights(psnr_run).items())
    wider = tiny(hr_folder, tmp_path / "bad", phase="gan", init_from=str(psnr_run), channels=16)
    with pytest.raises(ValueError, match="does not fit this run's network; use the same --scale"):
        Trainer(wider)


def run_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "img2img", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_cli_trains_both_phases_on_two_folders_then_eval_prints_the_table(
    hr_folder: Path, tmp_path: Path
) -> None:
    more = make_hr_images(tmp_path / "more", [(40, 40), (10, 10)], seed=1)  # one too small
    out = tmp_path / "run"
    flags = cli_flags({**TINY_SRGAN, "phase": "both", "psnr_steps": 2, "max_steps": 3})
    run_cli("train", "--task", "srgan", "--data", f"{hr_folder},{more}", "--out", str(out), *flags)
    state = load_training_state(out)
    assert state["task"]["iteration"] == 3 and state["config"]["data"].count(",") == 1
    table = run_cli("eval", "--model", str(out), "--data", str(hr_folder), "--metrics", "psnr,ssim")
    assert "x2; LR by PIL bicubic" in table and "psnr_y" in table and "ssim_rgb" in table
    assert "00.png" in table and "mean" in table
