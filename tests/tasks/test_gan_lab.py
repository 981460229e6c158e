"""The 2-D GAN lab as a real learning test: seeded runs on toy:ring8 must find the modes.

Each objective's coverage is printed (run with ``-s``) so that regressions are visible.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from img2img.cli import main
from img2img.config import merge
from img2img.tasks.gan import GANConfig
from img2img.train import Trainer

# A sensible setup for each objective on CPU in seconds. WGAN-GP's paper settings (Adam 1e-4,
# 5 critic steps) need tens of thousands of iterations here; with the lab's lambda = 0.1 (the
# WGAN-GP authors' toy script), 2 critic steps at 5e-4 and the LR decaying over the last
# 25 of 62 epochs (2,418 iterations) it covers the ring precisely.
SETUPS = {
    "nonsaturating": {"max_steps": 1000},
    "wgan-gp": {
        "epochs": 62,
        "decay_epochs": 25,
        "d_steps": 2,
        "lr": 5e-4,
        "beta1": 0.5,
        "batch_size": 256,
        "hidden": 128,
    },
}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("objective", list(SETUPS))
def test_ring8_modes_are_covered(objective: str, tmp_path: Path) -> None:
    values = {"data": "toy:ring8", "objective": objective, "out": str(tmp_path), "device": "cpu"}
    overrides = {"save_every": 10**6, "sample_every": 10**6, "log_every": 400}
    config = merge(GANConfig, values, {**overrides, **SETUPS[objective]})
    Trainer(config).fit()
    records = [json.loads(line) for line in (tmp_path / "losses.jsonl").open()]
    first, last = records[0], records[-1]
    print(
        f"{objective}: iteration {first['step']} -> {last['step']}: modes {first['modes']:.0f} "
        f"-> {last['modes']:.0f} of 8, high quality {first['high_quality']:.0%} -> "
        f"{last['high_quality']:.0%}"
    )
    assert last["modes"] >= 7 and last["modes"] > first["modes"]
    assert last["high_quality"] > 0.5
    assert (tmp_path / "samples" / f"step_{last['step']:07d}.png").exists()  # the final plot
    main(["sample", "--model", str(tmp_path), "-n", "500", "-o", str(tmp_path / "scatter.png")])
    assert (tmp_path / "scatter.png").stat().st_size > 0


def test_toy_splits_are_draws_of_the_mixture_with_their_own_seeds() -> None:
    from img2img.data.toy import get_mixture
    from img2img.tasks.gan import GAN

    config = merge(GANConfig, {"data": "toy:ring8", "seed": 3})
    train, test = GAN.dataset(config, "train"), GAN.dataset(config, "test")
    again = GAN.dataset(merge(GANConfig, {"data": "toy:ring8", "seed": 4}), "train")
    assert train.mixture is not None and len(train.mixture.modes) == 8
    assert torch.equal(test.points, again.points)  # the test split draws with seed + 1
    assert not torch.equal(train.points, test.points)
    assert torch.cdist(train.points, get_mixture("toy:ring8").modes).min(1).values.max() < 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"net": "mlp", "generator": "style"},
            "--net mlp builds the lab's MLPs: drop --generator style / --discriminator style",
        ),
        (
            {"net": "mlp", "conditional": True},
            "--conditional is not supported with --net mlp (2-D toy data)",
        ),
        (
            {"net": "mlp", "diffaugment": "color"},
            "--diffaugment augments images; it has no meaning for 2-D points (--net mlp)",
        ),
        (
            {"generator": "style", "conditional": True},
            "--generator style is unconditional: drop --conditional",
        ),
        (
            {"discriminator": "style", "conditional": True},
            "--discriminator style is unconditional: drop --conditional",
        ),
        (
            {"objective": "ebgan", "discriminator": "style"},
            "--objective ebgan brings its own auto-encoder discriminator: drop "
            "--discriminator style",
        ),
        (
            {"discriminator": "style", "spectral_norm": True},
            "--spectral-norm wraps the dcgan discriminator's layers; the style discriminator's "
            "equalized layers take none: drop one",
        ),
        ({"pl_weight": 2.0}, "--pl-weight needs the style generator (--generator style)"),
        (
            {"pt_weight": 0.1},
            "--pt-weight 0.1: the pulling-away term needs an auto-encoder discriminator's codes "
            "(--objective ebgan)",
        ),
        (
            {"objective": "ebgan", "conditional": True},
            "--objective ebgan has no class-conditional version",
        ),
    ],
)
def test_contradictory_options_are_refused_naming_them(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        merge(GANConfig, {"num_classes": 10, **options})


def test_unrolled_lab_run_resumes_exactly(tmp_path: Path) -> None:
    """--unroll reaches the Adversary, and a run stopped and resumed ends with the weights
    of the straight run (the unroll's batch is the current iteration's, never saved)."""
    values = {"data": "toy:ring8", "device": "cpu", "unroll": 2, "hidden": 16, "batch_size": 32}
    quiet = {"save_every": 10**6, "sample_every": 10**6, "log_every": 10**6}

    def run(out: Path, steps: int, resume: bool = False) -> dict:
        config = merge(GANConfig, {**values, **quiet, "out": str(out), "max_steps": steps})
        trainer = Trainer(config, resume=resume)
        assert trainer.task.adversary.unroll == 2
        trainer.fit()
        return trainer.task.state_dict()

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "stopped", 2)
    resumed = run(tmp_path / "stopped", 4, resume=True)
    for part in ("generator", "adversary"):
        for key, value in straight[part].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, resumed[part][key]), key


def test_the_generators_pull_is_minus_its_loss_gradient_per_point() -> None:
    """D(x) = w.x + b = x1 - 2 x2 + 0.5, non-saturating loss mean_i softplus(-D(x_i)) over
    n = 2 points: the pull on x_i is sigmoid(-D(x_i)) w / n. At x_1 = (0, 0): D = 0.5,
    sigmoid(-0.5) = 0.377541, pull (0.188771, -0.377541); at x_2 = (1, 1): D = -0.5,
    sigmoid(0.5) = 0.622459, pull (0.311230, -0.622459)."""
    from img2img.losses import Adversary
    from img2img.tasks.lab import generator_pull

    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        layer.bias.fill_(0.5)
    d = torch.nn.Sequential(layer, torch.nn.Flatten(0))
    pull = generator_pull(Adversary(d, "nonsaturating"), torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    expected = torch.tensor([[0.188771, -0.377541], [0.311230, -0.622459]])
    assert torch.allclose(pull, expected, atol=1e-6)
    assert layer.weight.grad is None  # D is left alone


def test_the_lab_networks_are_built_from_the_options() -> None:
    """z_dim, hidden and mlp_layers reach both MLPs, spectral norm the discriminator; an
    energy objective's discriminator is an auto-encoder."""
    from img2img.nets.mlp import MLPAutoEncoder
    from img2img.tasks.lab import LabOptions, lab_networks

    options = LabOptions(hidden=16, mlp_layers=5)
    g, d = lab_networks(options, z_dim=3, spectral_norm=True, energy=False)
    assert g(torch.zeros(4, 3)).shape == (4, 2) and d(torch.zeros(4, 2)).shape == (4,)
    for net in (g, d):
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert len(linears) == 6 and linears[0].out_features == 16  # 5 hidden layers + output
    assert all(
        torch.nn.utils.parametrize.is_parametrized(m)
        for m in d.modules()
        if isinstance(m, torch.nn.Linear)
    )
    _, plain = lab_networks(options, z_dim=3, spectral_norm=False, energy=True)
    assert isinstance(plain, MLPAutoEncoder)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in plain.modules())


def test_the_lab_plot_shows_the_critic_and_titles_the_coverage(monkeypatch) -> None:
    from img2img.data.toy import MIXTURES
    from img2img.losses.adversarial import Adversary
    from img2img.nets.mlp import MLPDiscriminator
    from img2img.tasks.lab import lab_plot

    shown = {}
    monkeypatch.setattr("img2img.reporting.plot_points", lambda **kwargs: shown.update(kwargs))
    torch.manual_seed(0)
    adversary = Adversary(MLPDiscriminator(hidden=8), "nonsaturating")
    ring = MIXTURES["ring8"]
    fake = torch.cat([ring.modes[:6]] * 4)  # 6 of 8 modes, every point on one
    lab_plot(adversary, ring, ring.modes, fake, Path("plot.png"), 7)
    assert shown["title"] == "iteration 7: 6/8 modes, 100% high quality"
    points = torch.randn(5, 2)
    torch.testing.assert_close(shown["critic"](points), adversary.scores(points))
    assert shown["probabilities"] is adversary.objective.probabilities
    assert torch.equal(shown["fake"], fake) and shown["path"] == Path("plot.png")


class FirstTwoLatents(torch.nn.Module):
    """A stand-in generator whose point is its first two noise coordinates."""

    def __init__(self, latent_size: int) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # where latent_grid finds the device
        self.seen = torch.empty(0)

    def forward(self, z: torch.Tensor, labels: None = None) -> torch.Tensor:
        self.seen = z
        return torch.cat([z, torch.zeros(len(z), 1)], dim=1)[:, :2] + self.anchor


def test_the_latent_grid_walks_the_first_two_noise_coordinates_row_by_row() -> None:
    from img2img.tasks.lab import latent_grid

    generator = FirstTwoLatents(latent_size=2)
    points = latent_grid(generator, side=3, extent=2.0)
    rows = [[[u, v] for u in (-2.0, 0.0, 2.0)] for v in (-2.0, 0.0, 2.0)]
    assert points.tolist() == [point for row in rows for point in row]
    wider = FirstTwoLatents(latent_size=3)
    assert torch.equal(latent_grid(wider, side=3), points)
    assert not wider.seen[:, 2].any()  # the other coordinates stay 0
    # The defaults: 11 x 11 latents over 2 std either way.
    default = latent_grid(generator)
    assert default.shape == (121, 2) and default.min() == -2.0 and default.max() == 2.0
    # One-dimensional noise: one coordinate, walked along each row.
    line = latent_grid(FirstTwoLatents(latent_size=1), side=3)
    assert line[:, 0].tolist() == [-2.0, 0.0, 2.0] * 3 and not line[:, 1].any()
