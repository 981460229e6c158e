"""The StyleGAN2-style generator and the DDGAN recipe end to end: training through the CLI,
exact resumption, sampling; and what the DDGAN's discriminator receives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from img2img.cli import main
from img2img.config import merge
from img2img.nets.ddgan import q_sample_pairs
from img2img.sampling import load_gan
from img2img.tasks.ddgan import DDGAN, DDGANConfig
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported sampling graphs go to this test's cache (the ONNX engine may run them)."""
    monkeypatch.setenv("IMG2IMG_CACHE", str(tmp_path / "cache"))


TINY = ["--ngf", "4", "--ndf", "4", "--z-dim", "8", "--batch-size", "4", "--num-workers", "0"]
KINDS = {
    "style": [
        "--task",
        "gan",
        "--generator",
        "style",
        "--w-dim",
        "8",
        "--mapping-layers",
        "2",
        "--r1-interval",
        "2",
        "--pl-weight",
        "2",
        "--pl-interval",
        "2",
    ],
    "ddgan": ["--task", "ddgan", "--t-dim", "8", "--r1-interval", "2"],
}


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    return make_mnist(tmp_path / "mnist", count=12)


def train(kind: str, data: Path, out: Path, steps: int, resume: bool = False) -> None:
    flags = ["--data", str(data), "--out", str(out), "--max-steps", str(steps), "--device", "cpu"]
    flags += ["--save-every", "2", "--sample-every", "100", "--log-every", "100"]
    main(
        ["train", *KINDS[kind], *TINY, *flags, "--num-samples", "4"]
        + (["--resume", str(out)] if resume else [])
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_trains_resumes_exactly_and_samples(kind: str, mnist: Path, tmp_path: Path) -> None:
    train(kind, mnist, tmp_path / "whole", 4)
    train(kind, mnist, tmp_path / "parts", 2)
    halfway = load_file(tmp_path / "parts" / "generator.safetensors")
    train(kind, mnist, tmp_path / "parts", 4, resume=True)
    whole = load_file(tmp_path / "whole" / "generator.safetensors")
    parts = load_file(tmp_path / "parts" / "generator.safetensors")
    assert whole.keys() == parts.keys()
    assert all(torch.equal(whole[k], parts[k]) for k in whole), "resume is not exact"
    assert any(not torch.equal(halfway[k], whole[k]) for k in whole)  # steps 3-4 trained

    out = tmp_path / "grid.png"
    extra = ["--truncation", "0.7", "--style-mix", "2"] if kind == "style" else ["--chain"]
    main(
        [
            "sample",
            "--model",
            str(tmp_path / "whole"),
            "-n",
            "4",
            "-o",
            str(out),
            "--interpolations",
            "0",
            *extra,
        ]
    )
    assert Image.open(out).size == (2 + 2 * 30, 2 + 2 * 30)
    if kind == "style":
        assert Image.open(tmp_path / "grid_mix.png").size == (2 + 3 * 30, 2 + 3 * 30)
        assert "w_avg" in whole and whole["w_avg"].abs().sum() > 0  # the tracked mean moved
    else:
        _, config = load_gan(tmp_path / "whole")
        assert config.steps == 4
        # 4 samples x (x_4, x_3, x_2, x_1, x_0)
        assert Image.open(tmp_path / "grid_chain.png").size == (2 + 5 * 30, 2 + 4 * 30)


def test_ddgan_discriminator_receives_x_t_x_next_and_t(mnist: Path, tmp_path: Path) -> None:
    values = {"data": str(mnist), "out": str(tmp_path), "ngf": 4, "ndf": 4, "z_dim": 8}
    config = merge(DDGANConfig, {**values, "t_dim": 8, "batch_size": 4, "device": "cpu"})
    task = DDGAN(config, total_steps=10, decay_steps=0, device=torch.device("cpu"))
    calls: list[tuple] = []
    task.adversary.discriminator.register_forward_hook(lambda m, args, out: calls.append(args))
    dataset = DDGAN.dataset(config, "train")
    batch = torch.utils.data.default_collate([dataset[i] for i in range(4)])
    torch.manual_seed(3)
    logs = task.step(batch)
    assert {"d_loss", "g_loss", "r1"} <= logs.keys()  # R1 on the first (lazy) iteration
    real_call, fake_call, generator_call = calls
    torch.manual_seed(3)  # replay the step's draws: t, then the pair
    t = torch.randint(0, 4, (4,))
    x_t, x_next = q_sample_pairs(task.generator.schedule, batch["image"], t)
    assert torch.allclose(real_call[0], x_t)
    for x, (condition_x, condition_t) in (real_call, fake_call, generator_call):
        assert x.shape == (4, 1, 28, 28)
        assert torch.allclose(condition_x, x_next) and torch.equal(condition_t, t)
    assert torch.equal(fake_call[0], generator_call[0])
    assert not torch.allclose(fake_call[0], x_t)


def test_ddgan_is_built_from_its_options_and_refuses_points(mnist: Path, tmp_path: Path) -> None:
    from img2img.nets.ddgan import vp_schedule

    values = {"data": str(mnist), "ngf": 2, "ndf": 5, "z_dim": 8, "t_dim": 6, "steps": 2}
    config = merge(DDGANConfig, {**values, "beta_min": 0.5, "beta_max": 10.0, "r1_interval": 7})
    task = DDGAN(config, total_steps=10, decay_steps=0, device=torch.device("cpu"))
    denoiser, discriminator = task.generator.denoiser, task.adversary.discriminator
    assert (denoiser.inc.conv.out_channels, denoiser.t_dim) == (2, 6)
    assert (discriminator.convs[0].out_channels, discriminator.t_dim) == (5, 6)
    torch.testing.assert_close(task.generator.schedule.a_cum, vp_schedule(2, 0.5, 10.0).a_cum)
    assert task.adversary.r1_interval == 7
    # The steppers' names are those of their networks in logs (lr/NAME) and errors.
    assert list(task.steppers) == ["generator", "discriminator"]
    with pytest.raises(ValueError, match="toy:ring8: --task ddgan denoises images; use --task gan"):
        DDGAN.dataset(merge(DDGANConfig, {"data": "toy:ring8"}), "train")
