"""The StyleGAN2 / DDGAN / ProGAN settings set right against the reference code (issue 28's
list, one test per item): each of these failed before its fix."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from img2img.config import config_from_saved, merge
from img2img.losses import Adversary
from img2img.nets.progan import ProGANDiscriminator, ProGANGenerator, upscale
from img2img.nets.stylegan import StyleDiscriminator, StyleGenerator
from img2img.saved_models import read_config
from img2img.tasks.ddgan import DDGAN, DDGANConfig
from img2img.tasks.gan import GAN, GANConfig
from img2img.tasks.style import STYLE_EMA, PathLength
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"ngf": 8, "ndf": 8, "z_dim": 8, "batch_size": 4, "num_workers": 0, "device": "cpu"}


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    return make_mnist(tmp_path / "mnist", count=12)


def style_task(mnist: Path, **overrides) -> GAN:
    values = {**TINY, "data": str(mnist), "generator": "style", "w_dim": 8, **overrides}
    torch.manual_seed(0)
    return GAN(merge(GANConfig, values), total_steps=10, decay_steps=0, device=torch.device("cpu"))


def batch(task: GAN, seed: int = 0) -> dict:
    dataset = task.dataset(task.config, "train")
    return torch.utils.data.default_collate([dataset[i] for i in range(4)])


def adam_steps(stepper) -> int:
    return max(int(state["step"]) for state in stepper.optimizer.state.values())


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters() if p.dim() > 1}


# 1. The style preset's discriminator: the reference's kind, so its Adam step fits it.
def test_style_preset_brings_the_reference_discriminator_and_its_step_size(mnist: Path) -> None:
    task = style_task(mnist)
    assert isinstance(task.adversary.discriminator, StyleDiscriminator)
    task = style_task(mnist, r1_gamma=0.0)  # one Adam step of the main loss alone
    discriminator = task.adversary.discriminator
    before = weights(discriminator)
    task.adversary.update(batch(task)["image"], task._fake(4, None).detach())
    after = weights(discriminator)
    step = torch.cat([(after[n] - before[n]).flatten() for n in before])
    size = torch.cat([before[n].flatten() for n in before])
    # Adam's first step with beta1 = 0 moves each weight by lr = 0.0025; equalized weights
    # are N(0, 1), so D moves by ~0.25% of its size (a DCGAN discriminator: ~12%).
    assert float(step.norm() / size.norm()) == pytest.approx(0.0025, rel=0.1)


def test_style_discriminator_blocks_are_residual_with_the_reference_gains() -> None:
    torch.manual_seed(0)
    discriminator = StyleDiscriminator(image_size=32, channels=3, ndf=4)
    assert [b.conv1.weight.shape[0] for b in discriminator.blocks] == [8, 16, 16]
    block = discriminator.blocks[0]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        block.conv0.weight.zero_()
        block.conv1.weight.zero_()  # main path: lrelu(0) = 0, so only the skip is left
    out = block(x)
    filt = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = (torch.outer(filt, filt) / 64)[None, None].expand(4, 1, 4, 4)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1)), kernel, stride=2, groups=4)
    expected = F.conv2d(blurred, block.skip.weight * block.skip.scale) * math.sqrt(0.5)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="multiple of group"):
        discriminator(torch.randn(6, 3, 32, 32))  # minibatch stddev groups of 4


# 2. Path length differentiates the mapping network's output, not a detached copy.
def test_path_length_trains_the_mapping_network() -> None:
    torch.manual_seed(0)
    generator = StyleGenerator(z_dim=8, w_dim=8, image_size=16, channels=1, ngf=4)
    penalty = PathLength(weight=2.0, interval=4, device=torch.device("cpu"))
    penalty.mean.fill_(5.0)  # far from the lengths, so the penalty has a gradient
    term = penalty.term(generator, 8, {})
    term.backward()
    mapping = [p.grad for p in generator.mapping.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in mapping)


# 3. G's lazy-regularisation adjustment holds without path length (G_reg_interval 4).
def test_style_generator_adam_is_adjusted_for_interval_4_without_path_length(mnist) -> None:
    task = style_task(mnist)
    assert task.config.pl_weight == 0
    group = task.g_stepper.optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 4 / 5)
    assert group["betas"] == (0.0, pytest.approx(0.99 ** (4 / 5)))


# 4. The style preset keeps the reference's EMA of G, with its ramp-up.
def test_style_preset_keeps_an_ema_with_the_reference_rampup(mnist: Path) -> None:
    config = merge(GANConfig, {"data": str(mnist), "generator": "style"})
    assert config.ema == pytest.approx(0.5 ** (32 / 10_000)) == STYLE_EMA
    assert config.ema_rampup == 0.05
    assert merge(GANConfig, {"data": str(mnist)}).ema == 0.0  # DCGAN keeps none


# stylegan2-ada-pytorch's `auto` config maps z to w by 2 layers (its paper's 8 are `paper256`).
def test_style_generator_is_built_from_its_options_and_the_preset_maps_by_2_layers(
    mnist: Path,
) -> None:
    assert merge(GANConfig, {"data": str(mnist), "generator": "style"}).mapping_layers == 2
    task = style_task(mnist, w_dim=6, mapping_layers=3, mapping_lr=0.5, ngf=2)
    generator = task.generator
    layers = list(generator.mapping.net)
    assert generator.w_dim == 6 and [m.weight.shape for m in layers] == [(6, 8), (6, 6), (6, 6)]
    assert layers[0].bias_gain == 0.5
    assert generator.convs[-1].weight.shape[0] == 2  # the finest block is --ngf wide


# The reference trains with ADA on by default; without augmentation of what D judges the
# style generator collapsed to one digit on 10,000 MNIST digits (docs/gan-metrics.md).
def test_style_preset_augments_what_the_discriminator_judges(mnist: Path) -> None:
    task = style_task(mnist)
    assert task.adversary.augment.names == ["color", "translation", "cutout"]
    images = batch(task)["image"]
    torch.manual_seed(1)
    assert not torch.equal(task.adversary.augment(images), images)
    assert style_task(mnist, diffaugment="").adversary.augment is None  # the user's choice
    assert merge(GANConfig, {"data": str(mnist)}).diffaugment == ""  # DCGAN keeps none


# 5. DDGAN anneals both learning rates by cosine to 1e-5, and flips images (not digits).
def test_ddgan_anneals_both_rates_to_the_floor_and_flips_images(
    mnist: Path, tmp_path: Path
) -> None:
    from img2img.train import Trainer

    values = {**TINY, "t_dim": 8, "data": str(mnist), "out": str(tmp_path / "run")}
    config = merge(DDGANConfig, values, {"epochs": 2, "max_steps": 1, "sample_every": 100})
    assert (config.lr_schedule, config.lr_floor, config.flip) == ("cosine", 1e-5, False)
    trainer = Trainer(config)
    total = trainer.total_steps  # 2 epochs of 3 iterations
    for stepper, base in (
        (trainer.task.g_stepper, 1.6e-4),
        (trainer.task.adversary.stepper, 1.25e-4),
    ):
        factors = stepper.scheduler.lr_lambdas
        assert factors[0](0) == 1.0
        assert base * factors[0](total // 2) == pytest.approx((base + 1e-5) / 2)
        assert base * factors[0](total) == pytest.approx(1e-5)
    folder = tmp_path / "images"
    folder.mkdir()
    assert merge(DDGANConfig, {"data": str(folder)}).flip
    # A DDGAN saved before the schedule existed trained at constant rates: it resumes so.
    old = {k: v for k, v in config.to_dict().items() if k not in ("lr_schedule", "lr_floor")}
    resumed = config_from_saved(DDGANConfig, old)
    assert (resumed.lr_schedule, resumed.lr_floor) == ("linear", 0.0)


# 6. Lazy R1 and path length are steps of their own, for which the c-adjustment is made.
def test_lazy_regularisers_take_separate_optimizer_steps(mnist: Path) -> None:
    task = style_task(mnist, pl_weight=2.0, r1_interval=4)
    logs = task.step(batch(task))
    assert {"r1", "path_length"} <= logs.keys()
    assert adam_steps(task.adversary.stepper) == 2  # Dmain + Dreg
    assert adam_steps(task.g_stepper) == 2  # Gmain + Greg
    logs = task.step(batch(task))
    assert "r1" not in logs and "path_length" not in logs
    assert adam_steps(task.adversary.stepper) == 3 and adam_steps(task.g_stepper) == 3


def test_ddgan_folds_lazy_r1_into_the_step_as_its_reference(mnist: Path) -> None:
    values = {**TINY, "t_dim": 8, "data": str(mnist)}
    torch.manual_seed(0)
    task = DDGAN(merge(DDGANConfig, values), 10, 0, torch.device("cpu"))
    dataset = task.dataset(task.config, "train")
    logs = task.step(torch.utils.data.default_collate([dataset[i] for i in range(4)]))
    assert "r1" in logs and adam_steps(task.adversary.stepper) == 1


# 7. Under augmentation the penalties differentiate the un-augmented images.
def test_penalties_differentiate_the_unaugmented_images() -> None:
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1, bias=False))
    torch.nn.init.ones_(critic[1].weight)  # D(x) = sum of x: gradient 1 everywhere

    def double(x: torch.Tensor) -> torch.Tensor:  # an augmentation with d/dx = 2
        return 2 * x

    real, fake = torch.randn(3, 3, 2, 2), torch.randn(3, 3, 2, 2)
    r1 = Adversary(critic, r1_weight=1.0, augment=double)
    _, logs = r1.d_loss(real, fake)
    assert logs["r1"] == pytest.approx(0.5 * 4 * 12)  # 0.5 ||2 * 1||^2 over 12 inputs
    gp = Adversary(critic, "wgan-gp", gp_weight=10.0, augment=double)
    _, logs = gp.d_loss(real, fake)
    assert logs["gp"] == pytest.approx((2 * math.sqrt(12) - 1) ** 2, rel=1e-5)


# 8. ProGAN's discriminator block is the reference's fused function.
def fused_downscale_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The reference's conv2d_downscale2d: the 3x3 kernel padded to 4x4, its four shifts
    averaged, a stride-2 convolution."""
    w = F.pad(weight, (1, 1, 1, 1))
    w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) * 0.25
    return F.conv2d(x, w, stride=2, padding=1)


def fused_upscale_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The reference's upscale2d_conv2d: the kernel padded and summed over its four shifts,
    a stride-2 transposed convolution."""
    w = F.pad(weight, (1, 1, 1, 1))
    w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
    return F.conv_transpose2d(x, w.transpose(0, 1).flip(2, 3), stride=2, padding=1)


def test_progan_resampling_layers_compute_the_reference_fused_functions() -> None:
    torch.manual_seed(0)
    discriminator = ProGANDiscriminator(image_size=8, channels=1, fmap_base=32, fmap_max=8)
    conv0, conv1 = discriminator.blocks[1]
    with torch.no_grad():
        conv1.bias.normal_()
    x = torch.randn(2, conv0.weight.shape[1], 8, 8)
    hidden = F.leaky_relu(conv0(x), 0.2)
    fused = fused_downscale_conv(hidden, conv1.weight * conv1.scale) + conv1.bias[:, None, None]
    torch.testing.assert_close(discriminator._block(x, 1), F.leaky_relu(fused, 0.2))
    generator = ProGANGenerator(z_dim=8, image_size=8, channels=1, fmap_base=32, fmap_max=8)
    conv = generator.blocks[1][0]
    y = torch.randn(2, conv.weight.shape[1], 4, 4)
    expected = fused_upscale_conv(y, conv.weight * conv.scale) + conv.bias[:, None, None]
    torch.testing.assert_close(conv(upscale(y, 2)), expected)


# 8. Progress grids show the EMA generator where there is one.
def test_progress_grids_draw_from_the_ema_weights(mnist: Path, tmp_path: Path) -> None:
    from img2img.train import Trainer

    values = {**TINY, "data": str(mnist), "out": str(tmp_path / "run"), "num_samples": 4}
    config = merge(GANConfig, values, {"max_steps": 2, "ema": 0.5, "sample_every": 100})
    trainer = Trainer(config)
    seen: list[dict[str, torch.Tensor]] = []
    original = trainer.task.write_samples

    def spy(*args):
        seen.append({k: v.clone() for k, v in trainer.task.generator.state_dict().items()})
        return original(*args)

    trainer.task.write_samples = spy
    trainer.fit()  # writes the final grid
    averaged = trainer.ema.module.state_dict()
    raw = trainer.task.generator.state_dict()
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)
    assert all(torch.equal(seen[-1][k], averaged[k]) for k in raw)  # the grid's weights
    assert (tmp_path / "run" / "samples" / "step_0000002.png").is_file()


# Runs and models saved before these options keep their behaviour.
def test_a_style_run_saved_before_the_new_options_resumes_as_it_trained(
    mnist: Path, tmp_path: Path
) -> None:
    from img2img.cli import main

    run = tmp_path / "run"
    old_behaviour = ["--discriminator", "dcgan", "--ema", "0", "--mapping-layers", "8"]
    flags = ["--data", str(mnist), "--out", str(run), "--device", "cpu", "--num-workers", "0"]
    flags += ["--ngf", "4", "--ndf", "4", "--z-dim", "8", "--w-dim", "8", "--batch-size", "4"]
    flags += ["--sample-every", "100", "--num-samples", "4"]
    main(
        [
            "train",
            "--task",
            "gan",
            "--generator",
            "style",
            *old_behaviour,
            *flags,
            "--max-steps",
            "1",
        ]
    )
    saved = read_config(run)  # written back flat, as the img2img of that time wrote it
    new = ("discriminator", "ema_rampup", "flip", "stacked", "lr_schedule", "lr_floor")
    old = {k: v for k, v in saved.items() if k not in new}
    (run / "config.json").write_text(json.dumps(old))
    completed = config_from_saved(GANConfig, old)
    assert (completed.discriminator, completed.ema, completed.ema_rampup) == ("dcgan", 0.0, 0.0)
    main(["train", "--resume", str(run), "--max-steps", "2"])  # the presets would refuse it
    assert read_config(run)["discriminator"] == "dcgan"
