"""The GAN recipe: objective presets, every objective through the Adversary, conditioning,
the failure-mode watch, and `img2img sample`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from img2img.checkpoint import load_training_state
from img2img.cli import main
from img2img.config import merge
from img2img.losses import OBJECTIVES
from img2img.sampling import interpolation_latents, load_gan, sample_labels, slerp
from img2img.tasks.gan import GAN, GANConfig
from img2img.train import Trainer
from img2img.watch import SaturationWatch, TrainingDiverged, check_losses
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"ngf": 4, "ndf": 4, "z_dim": 8, "batch_size": 4, "num_workers": 0, "device": "cpu"}


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    return make_mnist(tmp_path / "mnist", count=20)


def tiny(data: Path | str, out: Path, **overrides) -> GANConfig:
    values = {**TINY, "data": str(data), "out": str(out), "num_samples": 4}
    return merge(GANConfig, values, overrides)


def make_task(config: GANConfig) -> GAN:
    torch.manual_seed(0)
    return GAN(config, total_steps=100, decay_steps=0, device=torch.device("cpu"))


def batches(config: GANConfig, count: int):
    dataset = GAN.dataset(config, "train")
    items = [dataset[i % len(dataset)] for i in range(count * config.batch_size)]
    for i in range(count):
        chunk = items[i * config.batch_size : (i + 1) * config.batch_size]
        yield torch.utils.data.default_collate(chunk)


def test_objective_presets_fill_only_unset_fields(mnist: Path, tmp_path: Path) -> None:
    wgan = merge(GANConfig, {"data": str(mnist), "objective": "wgan"})
    assert (wgan.clip, wgan.optimizer, wgan.lr, wgan.d_steps) == (0.01, "rmsprop", 5e-5, 5)
    gp = merge(GANConfig, {"data": str(mnist), "objective": "wgan-gp"}, {"d_steps": 3})
    assert (gp.gp_weight, gp.lr, gp.beta1, gp.beta2, gp.d_norm) == (10.0, 1e-4, 0.0, 0.9, "none")
    assert gp.d_steps == 3  # the user's flag wins over the preset
    hinge = merge(GANConfig, {"data": str(mnist), "objective": "hinge"})
    assert hinge.spectral_norm and hinge.d_norm == "none"
    plain = merge(GANConfig, {"data": str(mnist)})
    assert (plain.lr, plain.beta1, plain.batch_size, plain.clip) == (2e-4, 0.5, 64, 0.0)
    assert (plain.image_size, plain.channels, plain.num_classes) == (28, 1, 10)  # MNIST
    toy = merge(GANConfig, {"data": "toy:ring8"})
    assert toy.net == "mlp"


@pytest.mark.parametrize("objective", sorted({o.name for o in OBJECTIVES.values()}))
def test_every_objective_trains_through_the_adversary(
    objective: str, mnist: Path, tmp_path: Path
) -> None:
    config = tiny(mnist, tmp_path / objective, objective=objective)
    task = make_task(config)
    g_before = [p.detach().clone() for p in task.generator.parameters()]
    logs = [task.step(batch) for batch in batches(config, config.d_steps)]
    assert all(math.isfinite(v) for record in logs for v in record.values())
    assert "g_loss" in logs[-1] and all("g_loss" not in r for r in logs[:-1])  # k D steps, 1 G
    g_after = list(task.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, g_after, strict=True))
    if objective == "wgan":
        bound = max(p.abs().max() for p in task.adversary.discriminator.parameters())
        assert bound <= 0.01 + 1e-8
    if objective == "wgan-gp":
        assert logs[0]["gp"] >= 0
        grads = [p.grad for p in task.adversary.discriminator.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


def test_trainer_runs_gan_end_to_end_and_resumes(mnist: Path, tmp_path: Path) -> None:
    config = tiny(mnist, tmp_path / "run", max_steps=4, save_every=2, sample_every=2, log_every=2)
    Trainer(config).fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "losses.jsonl").open()]
    assert records[-1]["step"] == 4 and "diversity" in records[-1]
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000004.png")
    assert grid.width >= 2 * 28 and grid.height >= 2 * 28  # 4 samples in a 2x2 grid
    resumed = tiny(mnist, tmp_path / "run", max_steps=6, save_every=2, sample_every=2)
    Trainer(resumed, resume=True).fit()
    assert load_training_state(tmp_path / "run")["step"] == 6


def test_conditional_generation_and_sample_command(mnist: Path, tmp_path: Path) -> None:
    config = tiny(mnist, tmp_path / "cond", conditional=True, max_steps=2, sample_every=2)
    Trainer(config).fit()
    generator, loaded = load_gan(tmp_path / "cond")
    assert loaded.conditional and loaded.num_classes == 10
    labels = sample_labels(generator.num_classes, 6, label=7)
    assert labels.tolist() == [7] * 6
    assert generator(torch.randn(6, 8), labels).shape == (6, 1, 28, 28)
    out = tmp_path / "grid.png"
    main(
        [
            "sample",
            "--model",
            str(tmp_path / "cond"),
            "--label",
            "7",
            "-n",
            "9",
            "-o",
            str(out),
            "--interpolations",
            "2",
            "--steps",
            "5",
        ]
    )
    grid, strip = Image.open(out), Image.open(tmp_path / "grid_slerp.png")
    assert grid.size == (2 + 3 * 30, 2 + 3 * 30)  # 3x3 grid of 28 px with 2 px padding
    assert strip.size == (2 + 5 * 30, 2 + 2 * 30)  # 2 paths of 5 images
    with pytest.raises(ValueError, match=r"classes 0\.\.9"):
        sample_labels(generator.num_classes, 2, label=12)


def test_unconditional_model_rejects_a_label(mnist: Path, tmp_path: Path) -> None:
    generator = GAN.build_generator(tiny(mnist, tmp_path))
    with pytest.raises(ValueError, match="--conditional"):
        sample_labels(generator.num_classes, 2, label=3)


def test_slerp_endpoints_and_norms() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(16), 3 * torch.randn(16)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    low, high = sorted([float(a.norm()), float(b.norm())])
    for t in torch.linspace(0, 1, 11):
        norm = float(slerp(a, b, t).norm())
        assert low - 1e-4 <= norm <= high + 1e-4
    # A straight line between two typical Gaussian vectors dips in norm; slerp does not.
    c, d = torch.randn(100), torch.randn(100)
    assert (0.5 * (c + d)).norm() < 0.8 * min(c.norm(), d.norm()) < slerp(c, d, 0.5).norm()
    torch.testing.assert_close(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: linear fallback
    assert interpolation_latents(8, rows=3, steps=4, seed=0).shape == (12, 8)


def nan_after_three(step):
    """The GAN's ``step``, whose D loss turns NaN after three updates."""

    def diverging(self, batch):
        logs = step(self, batch)
        if self.adversary.updates > 3:
            logs["d_loss"] = float("nan")
            check_losses(logs)
        return logs

    return diverging


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(
    mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GAN, "step", nan_after_three(GAN.step))
    config = tiny(mnist, tmp_path / "nan", max_steps=10, save_every=2, sample_every=100)
    with pytest.raises(TrainingDiverged, match=r"iteration 4: losses diverged \(d_loss=nan\)"):
        Trainer(config).fit()
    assert load_training_state(tmp_path / "nan")["step"] == 2


def test_watch_flags_a_saturated_discriminator_and_collapse(mnist: Path, tmp_path: Path) -> None:
    watch = SaturationWatch(patience=3)
    for loss in [0.5, 0.001, 0.002, 0.001]:
        watch.observe(loss)
    assert watch.saturated
    watch.observe(0.7)
    assert not watch.saturated

    config = tiny(mnist, tmp_path / "collapse", watch_patience=2)
    task = make_task(config)
    for batch in batches(config, 2):
        task.step(batch)
    with torch.no_grad():  # every z to the same image: total collapse
        task.generator.body[-2].weight.zero_()
        task.generator.body[-2].bias.fill_(0.3)
    task.watch.saturation.run = 5
    metrics, warnings = task.monitor()
    assert metrics["diversity"] < 0.01
    assert set(warnings) == {"mode_collapse", "d_saturated"}


def test_generate_uses_batch_statistics_and_leaves_the_generator_as_it_was() -> None:
    from img2img.nets.dcgan import DCGANGenerator
    from img2img.tasks.noise import generate

    g = DCGANGenerator(z_dim=8, image_size=28, ngf=4)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    z = torch.randn(16, 8)
    out = generate(g, z)
    assert g.training and all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    with torch.no_grad():
        torch.testing.assert_close(out, g.train()(z))  # what training-mode BN computes


def test_conditional_critic_steps_give_the_generator_its_labels_on_a_fresh_draw(
    mnist: Path, tmp_path: Path
) -> None:
    """With k > 1 the generator draws a fresh batch on its turn; it must be conditioned on
    the batch's labels there too (an unconditioned draw of a conditional G is an error)."""
    config = tiny(mnist, tmp_path / "run", conditional=True, objective="wgan-gp", d_steps=2)
    task = make_task(config)
    seen: list[torch.Tensor] = []
    task.generator.register_forward_pre_hook(lambda _, args: seen.append(args[1]))
    for batch in batches(config, 2):
        logs = task.step(batch)
    assert "g_loss" in logs and len(seen) == 3  # two critic draws and the generator's own
    assert all(torch.equal(labels, batch["label"]) for labels in seen[1:])


def test_a_nonfinite_gan_loss_is_skipped_when_asked(mnist: Path, tmp_path: Path) -> None:
    config = tiny(mnist, tmp_path / "run", skip_nonfinite=True)
    task = make_task(config)
    for stepper in task.steppers.values():
        stepper.skip_nonfinite = True
    batch = next(batches(config, 1))
    batch["image"] = torch.full_like(batch["image"], float("nan"))
    logs = task.step(batch)  # no TrainingDiverged: the Steppers skipped and counted it
    assert math.isnan(logs["d_loss"]) and task.adversary.stepper.skipped == 1


def test_mnist_is_read_at_the_configured_size(mnist: Path, tmp_path: Path) -> None:
    config = tiny(mnist, tmp_path / "run", image_size=32)
    assert GAN.dataset(config, "train")[0]["image"].shape == (1, 32, 32)


def test_the_progress_grid_is_written_where_asked_two_samples_a_row(
    mnist: Path, tmp_path: Path
) -> None:
    """The grid of the fixed latents (4: 2 x 2 of 28 px digits, 2 px apart), into folders
    made on the way."""
    task = make_task(tiny(mnist, tmp_path / "run"))
    path = tmp_path / "elsewhere" / "grids" / "step.png"
    task.write_samples({}, path, 0)
    assert Image.open(path).size == (2 + 2 * 30, 2 + 2 * 30)


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("part", ["generator", "path length"])
def test_a_nonfinite_generator_term_is_skipped_or_stops_the_run(
    mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skip: bool, part: str
) -> None:
    """G's loss and its path-length step each pass through --skip-nonfinite's check: a NaN
    update is skipped and counted, or stops the run."""
    style = (
        {"generator": "style", "pl_weight": 2.0, "pl_interval": 1} if part != "generator" else {}
    )
    config = tiny(mnist, tmp_path / "run", skip_nonfinite=skip, **style)
    task = make_task(config)
    for stepper in task.steppers.values():
        stepper.skip_nonfinite = skip
    nan = torch.tensor(float("nan"), requires_grad=True)
    mixing: list[float] = []  # what the path-length step is asked to mix
    if part == "generator":
        monkeypatch.setattr(task.adversary, "loss", lambda fake, **_: nan * fake.sum())
    else:

        def nan_term(generator, n, logs, style_mixing=0.0):
            mixing.append(style_mixing)
            logs["path_length"] = float("nan")
            return nan * next(generator.parameters()).sum()

        monkeypatch.setattr(task.path_length, "term", nan_term)
    batch = next(batches(config, 1))
    if skip:
        task.step(batch)
        assert task.g_stepper.skipped == 1
        assert mixing == ([] if part == "generator" else [0.9])  # the fakes' mixing
    else:
        with pytest.raises(TrainingDiverged):
            task.step(batch)


def test_lazy_r1_and_the_discriminators_own_rate_reach_its_adversary(
    mnist: Path, tmp_path: Path
) -> None:
    """R1 every k-th update weighs gamma * k and takes a step of its own (k > 1 only); D's
    Adam takes --d-lr, adjusted by k / (k + 1) as the reference's lazy regulariser is."""
    lazy = make_task(tiny(mnist, tmp_path / "a", r1_gamma=10.0, r1_interval=4, d_lr=1e-3))
    assert (lazy.adversary.r1_weight, lazy.adversary.r1_separate) == (40.0, True)
    assert lazy.adversary.stepper.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 4 / 5)
    every = make_task(tiny(mnist, tmp_path / "b", r1_gamma=10.0, r1_interval=1, lr=3e-4))
    assert (every.adversary.r1_weight, every.adversary.r1_separate) == (10.0, False)
    assert every.adversary.stepper.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
    twice = make_task(tiny(mnist, tmp_path / "c", r1_gamma=10.0, r1_interval=2))
    assert twice.adversary.r1_separate is True


def test_the_networks_are_built_from_the_options(mnist: Path, tmp_path: Path) -> None:
    """Labels reach both networks (D's conditioning as asked), --g-norm and --embed-dim the
    generator, --ndf the style discriminator, spectral norm the lab's MLP critic."""
    from img2img.nets.stylegan import StyleDiscriminator
    from img2img.tasks.gan import build_networks

    options = {"conditional": True, "conditioning": "concat", "g_norm": "instance", "embed_dim": 7}
    g, d = build_networks(tiny(mnist, tmp_path, **options))
    assert (g.num_classes, g.embed.embedding_dim, d.num_classes, d.projection) == (10, 7, 10, False)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())
    _, style = build_networks(tiny(mnist, tmp_path, generator="style", ndf=6))
    assert isinstance(style, StyleDiscriminator)
    assert 6 in {p.shape[0] for p in style.parameters() if p.dim() == 4}  # conv weights
    _, critic = build_networks(tiny("toy:ring8", tmp_path, spectral_norm=True))
    linears = [m for m in critic.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(torch.nn.utils.parametrize.is_parametrized(m) for m in linears)


@pytest.mark.parametrize(
    ("values", "size", "batch"),
    [({"image_size": 32, "batch_size": 16}, 32, 16), ({}, 28, 64)],
)
def test_the_style_presets_follow_the_size_and_batch_of_the_run(
    mnist: Path, values: dict, size: int, batch: int
) -> None:
    """R1's gamma = 0.0002 res^2 / batch at the run's size (given, else the data's, else 64)
    and batch (given, else 64); hinge's spectral norm is dropped for the style D."""
    config = merge(GANConfig, {"data": str(mnist), "generator": "style", **values})
    assert config.r1_gamma == pytest.approx(0.0002 * size**2 / batch)
    no_data = merge(GANConfig, {"generator": "style", "objective": "hinge"})
    assert no_data.r1_gamma == pytest.approx(0.0002 * 64**2 / 64)
    assert (no_data.discriminator, no_data.spectral_norm) == ("style", False)
    dcgan_d = merge(
        GANConfig, {"generator": "style", "discriminator": "dcgan", "objective": "hinge"}
    )
    assert dcgan_d.spectral_norm is True  # hinge's, for the D asked for
