"""The srgan recipe: both phases, exact resume across the phase switch, --init-from, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA, cli_flags, make_hr_images
from safetensors.torch import load_file
from torch.utils.data import default_collate

from img2img.checkpoint import load_training_state
from img2img.config import merge
from img2img.data import find_images
from img2img.data.sr import SRImageFolder
from img2img.infer import load
from img2img.metrics.pixel import psnr
from img2img.tasks.srgan import SRGAN, SRGANConfig, psnr_phase_length
from img2img.train import Trainer

# The smallest SRGAN that runs every part: x2, 16 px HR crops, one block, narrow nets.
TINY_SRGAN = {
    "scale": 2,
    "image_size": 16,
    "batch_size": 2,
    "blocks": 1,
    "ngf": 8,
    "ndf": 8,
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


def test_resuming_with_more_steps_keeps_the_phase_switch(hr_folder: Path, tmp_path: Path) -> None:
    """Half of 4 steps is 2: the switch stays there when the run is resumed to 12 steps
    (recomputed, half of 12 would send steps 5 and 6 back to the pixel loss)."""
    run = tmp_path / "run"
    Trainer(tiny(hr_folder, run, phase="both", max_steps=4)).fit()
    Trainer(tiny(hr_folder, run, phase="both", max_steps=12), resume=True).fit()
    assert load_training_state(run)["task"]["psnr_steps"] == 2
    log = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log if "d_loss" in record] == list(range(3, 13))


def test_gan_phase_starts_from_a_psnr_model(hr_folder: Path, tmp_path: Path) -> None:
    psnr_run = Trainer(tiny(hr_folder, tmp_path / "psnr", phase="psnr", max_steps=2)).fit()
    config = tiny(hr_folder, tmp_path / "gan", phase="gan", init_from=str(psnr_run), max_steps=0)
    start = Trainer(config).task.generator.state_dict()
    assert all(torch.equal(start[k], v) for k, v in weights(psnr_run).items())
    wider = tiny(hr_folder, tmp_path / "bad", phase="gan", init_from=str(psnr_run), ngf=16)
    with pytest.raises(ValueError, match="does not fit this run's network; use the same --scale"):
        Trainer(wider)
    with pytest.raises(ValueError) as refused:  # the saved network's shape, to compare with
        Trainer(wider)
    assert "{'scale': 2, 'blocks': 1, 'ngf': 8}" in str(refused.value)


def test_translate_runs_the_batch_norm_running_averages(hr_folder: Path, tmp_path: Path) -> None:
    """SRGAN trains with batch 16, so inference uses the running statistics (eval mode), not
    each image's own, unlike batch-1 pix2pix."""
    run = Trainer(tiny(hr_folder, tmp_path / "psnr", phase="psnr", max_steps=2)).fit()
    config = tiny(hr_folder, tmp_path / "psnr")
    network = SRGAN.build_generator(config)
    network.load_state_dict(weights(run))
    x = torch.rand(1, 3, 12, 12) * 2 - 1
    with torch.no_grad():
        expected = network.eval()(x).clamp(-1, 1)
    translated = load(run, device="cpu", precision="fp32").translate_tensor(x)
    torch.testing.assert_close(translated, expected, atol=1e-5, rtol=0)


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


STEPS = 400  # psnr-phase iterations of the learning test


def held_out_split(tmp_path: Path) -> tuple[Path, Path]:
    """Folders of training and held-out HR images (links): T91's first 60 images and its
    other 31. Without T91 the test skips: generated textures are smooth enough for bicubic
    to reach ~45 dB, which leaves a short run nothing measurable to learn."""
    t91 = SHARED_DATA / "sr" / "T91"
    if not t91.is_dir():
        pytest.skip(f"{t91} not found: the T91 super-resolution set is not on this machine")
    files, count = find_images(t91), 60
    folders = (tmp_path / "train", tmp_path / "held")
    for folder in folders:
        folder.mkdir()
    for index, file in enumerate(files):
        (folders[index >= count] / file.name).symlink_to(file)
    return folders


def test_a_short_psnr_phase_learns_to_upscale(tmp_path: Path, one_thread) -> None:
    """A few hundred steps of the psnr phase (tiny SRResNet, x4, 32 px crops, L1) on real
    photos beat bicubic on held-out 64 px crops. With ``bicubic_residual`` the untrained
    network is exactly bicubic, so "beats" means it learned detail bicubic lacks. (The
    paper's plain network rises from noise and needs about a thousand such steps to get
    there: too slow for a test on a CPU.)"""
    train_folder, held_folder = held_out_split(tmp_path)
    config = merge(
        SRGANConfig,
        {"data": "-", "scale": 4, "image_size": 32, "batch_size": 16, "blocks": 2,
         "ngf": 16, "phase": "psnr", "pixel_loss": "l1", "lr": 1e-3,
         "bicubic_residual": True},
    )  # fmt: skip
    train = SRImageFolder([train_folder], crop_size=32, scale=4, seed=0)
    pool = []
    for epoch in range(4):  # decoded once: the test times the learning, not PNG decoding
        train.set_epoch(epoch)
        pool += [train[i] for i in range(len(train))]
    pool = default_collate(pool)
    held = SRImageFolder([held_folder], crop_size=64, scale=4, train=False)
    held = default_collate([held[i] for i in range(len(held))])

    def held_out_psnr(task: SRGAN) -> float:
        task.generator.eval()
        with torch.no_grad():
            output = task.generator(held["input"]).clamp(-1, 1)
        return psnr(output, held["target"], y_channel=True, shave=4).mean().item()

    torch.manual_seed(0)
    task = SRGAN(config, total_steps=STEPS, decay_steps=STEPS // 2, device=torch.device("cpu"))
    before = held_out_psnr(task)
    order = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        chosen = torch.randint(len(pool["input"]), (16,), generator=order)
        task.step({"input": pool["input"][chosen], "target": pool["target"][chosen]})
        for stepper in task.steppers.values():
            stepper.schedule_step()
    after = held_out_psnr(task)
    upscaled = F.interpolate(held["input"], scale_factor=4, mode="bicubic").clamp(-1, 1)
    bicubic = psnr(upscaled, held["target"], y_channel=True, shave=4).mean().item()
    assert before == pytest.approx(bicubic, abs=1e-3)
    assert after > bicubic + 0.2, (before, after, bicubic)


def test_the_switch_is_an_iteration_and_old_states_recompute_it(hr_folder: Path, tmp_path: Path):
    """Half of an odd run rounds down to a whole iteration; a state saved before the switch
    was stored keeps the one computed for the run."""
    config = tiny(hr_folder, tmp_path / "run", phase="both", max_steps=5)
    assert psnr_phase_length(config, total_steps=5) == 2
    task = SRGAN(config, total_steps=5, decay_steps=0, device=torch.device("cpu"))
    old_state = {k: v for k, v in task.state_dict().items() if k != "psnr_steps"}
    task.psnr_steps = 3
    task.load_state_dict(old_state)
    assert task.psnr_steps == 3


def test_the_logged_batch_psnr_judges_outputs_clipped_to_the_image_range() -> None:
    """An output beyond [-1, 1] is shown clipped, so it is judged clipped: here 0.5 off on
    one of four values after clipping, MSE 0.0625, PSNR 10 log10(4 / 0.0625)."""
    from img2img.tasks.srgan import batch_psnr

    sr, hr = torch.tensor([1.7, -1.5, 0.5, -0.5]), torch.tensor([1.0, -1.0, 0.0, -0.5])
    assert batch_psnr(sr, hr) == pytest.approx(10 * math.log10(4 / 0.0625))


def test_a_missing_perceptual_file_stops_a_run_with_a_gan_phase_at_once(tmp_path: Path) -> None:
    """The VGG weights are checked when the run is built, not after its PSNR phase; a
    PSNR-only run (SRResNet) needs none."""
    from img2img.backbones.vgg import PerceptualWeightsMissing

    missing = {
        "perceptual": "vgg19",
        "perceptual_layer": "",
        "perceptual_weights": str(tmp_path / "vgg19.pth"),
    }
    cpu = torch.device("cpu")
    SRGAN(tiny(tmp_path, tmp_path / "run", phase="psnr", **missing), 10, 0, cpu)
    for phase in ("gan", "both"):
        with pytest.raises(PerceptualWeightsMissing, match=r"vgg19\.pth: VGG19 weights file not"):
            SRGAN(tiny(tmp_path, tmp_path / "run", phase=phase, **missing), 10, 0, cpu)
