"""The progressive-growing recipe: its schedule against the reference's, the real-image
fade, the optimizer reset, exact resume mid-fade, and the CLI from training to sampling."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from img2img.checkpoint import load_training_state
from img2img.cli import main
from img2img.config import load_yaml, merge
from img2img.ema import ema_beta
from img2img.losses import Adversary
from img2img.nets.progan import downscale, levels_for, upscale
from img2img.sampling import load_gan
from img2img.tasks.progan import ProGAN, ProGANConfig, fade_reals, lod_at, parse_batch_sizes
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

# 8 px (one level above 4x4), 8 real images an iteration: a phase of 64 images is 8
# iterations, 4 stable, then 8x8 fading in (iterations 6-8 at lod 0.75, 0.5, 0.25), then 8x8.
TINY = {
    "image_size": 8,
    "fmap_base": 16,
    "fmap_max": 8,
    "z_dim": 8,
    "batch_sizes": "4:8,8:8",
    "images_per_phase": 64,
    "ema": 0.9,
    "num_samples": 4,
    "num_workers": 0,
    "device": "cpu",
}


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    return make_mnist(tmp_path / "mnist", count=24)


def tiny(data: Path, out: Path, **overrides) -> ProGANConfig:
    return merge(ProGANConfig, {**TINY, "data": str(data), "out": str(out)}, overrides)


def test_schedule_matches_the_reference_training_schedule() -> None:
    # The reference, 32 px (lod 3 at 4x4), 600k + 600k: phase 0 stable to 600k, fading
    # 8x8 in to 1.2M, ..., lod 0 from 4.2M on.
    ref = 1_200_000
    assert lod_at(0, 3, ref) == 3.0
    assert lod_at(600_000, 3, ref) == 3.0
    assert lod_at(900_000, 3, ref) == pytest.approx(2.5)
    assert lod_at(1_200_000, 3, ref) == 2.0
    assert lod_at(3_300_000, 3, ref) == pytest.approx(0.5)
    assert lod_at(4_200_000, 3, ref) == 0.0
    assert lod_at(50_000_000, 3, ref) == 0.0


def test_presets_mnist_and_the_loader_batch(mnist: Path) -> None:
    config = merge(ProGANConfig, {"data": str(mnist)})
    assert (config.channels, config.image_size, config.batch_size) == (1, 32, 128)
    assert (config.lr, config.beta1, config.beta2) == (1e-3, 0.0, 0.99)
    assert (config.gp_weight, config.drift_weight, config.ema) == (10.0, 1e-3, 0.999)
    assert merge(ProGANConfig, {"batch_sizes": "4:16,8:32", "image_size": 8}).batch_size == 32
    assert parse_batch_sizes("4:128, 8:64") == {4: 128, 8: 64}
    with pytest.raises(ValueError, match="'8-64' is not resolution:batch"):
        parse_batch_sizes("4:128,8-64")
    with pytest.raises(ValueError, match="smaller than the largest per-resolution batch"):
        ProGAN(tiny(mnist, Path("unused"), batch_size=4), 10, 0, torch.device("cpu"))


@pytest.mark.parametrize("example", [None, "mnist-progan.yaml"])
def test_the_ema_forgets_faster_than_the_last_level_fades_in(example: str | None) -> None:
    """Sampled from the average as soon as the image size is reached, a generator must not
    still hold the newest level's untrained weights: the average's half-life then is well
    under the fade-in's iterations (without the ramp-up 693, over four times a laptop fade)."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "configs"
    values = {} if example is None else load_yaml(examples / example)
    config = merge(ProGANConfig, values)
    sizes = parse_batch_sizes(config.batch_sizes)
    fade_steps = config.images_per_phase / 2 / sizes[config.image_size]
    top = levels_for(config.image_size)
    grown = images = 0  # iterations and images until lod reaches 0 (the image size)
    while (lod := lod_at(images, top, config.images_per_phase)) > 0:
        images += sizes[config.image_size >> math.floor(lod)]
        grown += 1
    half_life = math.log(0.5) / math.log(ema_beta(config.ema, config.ema_rampup, grown))
    assert half_life < fade_steps / 2


def test_reals_are_cross_faded_like_the_reference() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(fade_reals(x, 0.0), x)
    coarse = upscale(downscale(x, 2), 2)
    assert torch.equal(fade_reals(x, 1.0), coarse)  # the 4x4 level, shown at 8x8
    torch.testing.assert_close(fade_reals(x, 0.25), 0.75 * x + 0.25 * coarse)
    assert torch.equal(fade_reals(x, 2.0), upscale(downscale(x, 4), 4))
    half = downscale(x, 2)  # lod 1.25: the 4x4 level fading towards 2x2 by a quarter
    expected = upscale(torch.lerp(half, upscale(downscale(half, 2), 2), 0.25), 2)
    torch.testing.assert_close(fade_reals(x, 1.25), expected)


def test_adam_is_reset_when_a_fade_in_starts_and_ends(mnist: Path, tmp_path: Path) -> None:
    config = tiny(mnist, tmp_path / "run")
    torch.manual_seed(0)
    task = ProGAN(config, total_steps=100, decay_steps=0, device=torch.device("cpu"))
    dataset = ProGAN.dataset(config, "train")
    batch = torch.utils.data.default_collate([dataset[i] for i in range(8)])
    dense = task.g_stepper.optimizer.state
    steps, lods = [], []
    for _ in range(10):
        lods.append(task.step(batch)["lod"])
        steps.append(int(dense[task.generator.dense.weight]["step"]))
    assert lods == [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    # Adam's step count restarts at the fade's first iteration (6) and after it (9).
    assert steps == [1, 2, 3, 4, 5, 1, 2, 3, 1, 2]
    assert task.generator.resolution == 8 and task.adversary.discriminator.resolution == 8


def test_drift_penalty_is_the_mean_squared_real_score() -> None:
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, 2.0]]))
        critic.bias.zero_()
    real, fake = torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    plain = Adversary(critic, objective="wgan", clip=1.0)
    drifted = Adversary(critic, objective="wgan", clip=1.0, drift_weight=0.5)
    loss, logs = drifted.d_loss(real, fake)
    base, _ = plain.d_loss(real, fake)
    # Real scores 3 and 2: E[D(x)^2] = 6.5; the weighted term 3.25 is added to the loss.
    assert logs["drift"] == pytest.approx(6.5)
    assert loss.item() == pytest.approx(base.item() + 3.25)


def test_resume_mid_fade_is_exact(mnist: Path, tmp_path: Path) -> None:
    Trainer(tiny(mnist, tmp_path / "straight", max_steps=8)).fit()
    Trainer(tiny(mnist, tmp_path / "resumed", max_steps=6)).fit()  # stops at lod 0.75
    mid = load_training_state(tmp_path / "resumed")
    assert 0 < float(mid["task"]["generator"]["lod"]) < 1
    Trainer(tiny(mnist, tmp_path / "resumed", max_steps=8), resume=True).fit()
    straight, resumed = (load_training_state(tmp_path / r) for r in ("straight", "resumed"))
    growth = {"images": 64, "stage": (0, 1)}  # the 8th iteration ran at lod 0.25
    assert straight["task"]["growth"] == resumed["task"]["growth"] == growth
    for part in ("generator", "adversary"):
        for key, value in straight["task"][part].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, resumed["task"][part][key]), (part, key)
    for key, value in straight["ema"].items():
        assert torch.equal(value, resumed["ema"][key]), key


def test_cli_trains_resumes_and_samples(mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    common = ["--task", "progan", "--data", str(mnist), "--out", str(out), *flags]
    main(["train", *common, "--max-steps", "6", "--sample-every", "3", "--log-every", "3"])
    main(["train", "--resume", str(out), "--max-steps", "10", "--log-every", "5"])
    assert load_training_state(out)["step"] == 10
    records = [json.loads(line) for line in (out / "losses.jsonl").open()]
    assert [r["step"] for r in records] == [3, 6, 10]
    assert records[-1]["resolution"] == 8 and {"gp", "drift", "g_loss"} <= set(records[-1])
    assert Image.open(out / "samples" / "step_0000003.png").height > 2 * 8
    generator, config = load_gan(out)
    assert config.task == "progan" and generator.resolution == 8  # the lod is in the weights
    assert generator(torch.randn(3, 8)).shape == (3, 1, 8, 8)
    grid = tmp_path / "grid.png"
    main(["sample", "--model", str(out), "-n", "4", "-o", str(grid), "--interpolations", "0"])
    assert Image.open(grid).size == (2 + 2 * 10, 2 + 2 * 10)  # 2x2 grid of 8 px, 2 px padding


def test_demo_gan_tab_serves_progan_and_says_the_resolution_reached(tmp_path: Path) -> None:
    from conftest import save_untrained_model

    from img2img.catalog import describe_model
    from img2img.demo import SAMPLE, DemoBackend

    model = save_untrained_model(tmp_path / "pg", "progan", **TINY, channels=1)
    backend = DemoBackend([describe_model(model)], device="cpu", output_dir=tmp_path / "out")
    assert backend.names(SAMPLE) == [str(model)] and backend.class_choices(str(model)) == []
    grid, strip, status = backend.sample(str(model), 0, None, 4, 0, 5)
    assert strip is None and Image.open(grid).width > 2 * 8
    # A fresh generator's lod is the 4x4 level: the status line says so.
    assert f"{model} was grown to 4x4 of 8x8." in status


def test_progan_is_built_from_its_options_and_checks_them(mnist: Path) -> None:
    """fmap_base / fmap_max reach both networks; --batch-size must hold the largest batch
    of any level (--batch-sizes, else --batch-base); a fmap_base too small for the levels,
    a phase under 2 images and 2-D points are refused; a fresh schedule's state reloads."""
    from img2img.tasks.progan import Growth

    cpu = torch.device("cpu")
    # 8 px: 32 // 2 = 16 channels at 4 px, 8 at 8 px, unless fmap_max caps them.
    for fmap_max, widest in ((100, 16), (6, 6)):
        task = ProGAN(tiny(mnist, Path("-"), fmap_base=32, fmap_max=fmap_max), 10, 0, cpu)
        for network in (task.generator, task.adversary.discriminator):
            assert max(p.shape[0] for p in network.parameters() if p.dim() == 4) == widest
    # 16 px: levels at 4, 8 and 16 px; --batch-base 3 where --batch-sizes names none.
    sixteen = {"image_size": 16, "batch_base": 3, "fmap_base": 16}
    for sizes, largest in (("4:9", 9), ("16:9", 9), ("32:9", 3)):
        config = tiny(mnist, Path("-"), **sixteen, batch_sizes=sizes, batch_size=largest)
        ProGAN(config, 10, 0, cpu)  # a batch of the largest is enough
        with pytest.raises(ValueError, match=rf"the largest per-resolution batch \({largest},"):
            ProGAN(dataclasses.replace(config, batch_size=largest - 1), 10, 0, cpu)
    assert parse_batch_sizes("4:1") == {4: 1}
    with pytest.raises(ValueError, match="the batch must be positive"):
        parse_batch_sizes("4:0")
    # 16 px needs feature_maps(3) >= 1: fmap_base 8 gives 1, fmap_base 4 gives 0.
    ProGAN(tiny(mnist, Path("-"), **{**sixteen, "fmap_base": 8}, batch_sizes=""), 10, 0, cpu)
    with pytest.raises(ValueError, match="--fmap-base 4 is too small for 2 levels"):
        ProGAN(tiny(mnist, Path("-"), **{**sixteen, "fmap_base": 4}, batch_sizes=""), 10, 0, cpu)
    Growth(2, images_per_phase=2)
    with pytest.raises(ValueError, match="--images-per-phase must be at least 2"):
        Growth(2, images_per_phase=1)
    fresh, reloaded = Growth(2, 64), Growth(2, 64)
    reloaded.load_state_dict(fresh.state_dict())
    assert reloaded.enter() and fresh.enter()  # neither has entered a stage yet
    with pytest.raises(ValueError, match="progressive growing needs images; use --task gan"):
        ProGAN.dataset(merge(ProGANConfig, {"data": "toy:ring8"}), "train")
