"""Tests for GAN objectives, penalties and the Adversary.

Expected values are written out by hand (math.log / math.exp on explicit numbers), never by
calling the same formulas through torch, so a wrong sign or a missing mean fails.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from img2img.losses import (
    OBJECTIVES,
    Adversary,
    Objective,
    clip_weights_,
    get_objective,
    gradient_penalty,
    objective_choices,
    r1_penalty,
)
from img2img.nets.blocks import apply_spectral_norm
from img2img.optim import Stepper, make_optimizer

REAL = [2.0, -1.0]
FAKE = [0.5, -3.0]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# -E log D(x) - E log(1 - D(G(z))), with D = sigmoid(logit)
_BCE_D = -_mean([math.log(_sigmoid(x)) for x in REAL]) - _mean(
    [math.log(1 - _sigmoid(x)) for x in FAKE]
)

EXPECTED = {  # name: (d_loss, g_loss) on REAL, FAKE
    "minimax": (_BCE_D, _mean([math.log(1 - _sigmoid(x)) for x in FAKE])),
    "nonsaturating": (_BCE_D, -_mean([math.log(_sigmoid(x)) for x in FAKE])),
    "vanilla": (_BCE_D, -_mean([math.log(_sigmoid(x)) for x in FAKE])),
    # ((2-1)^2 + (-1-1)^2)/2 + (0.5^2 + 3^2)/2 ; ((0.5-1)^2 + (-3-1)^2)/2
    "lsgan": (2.5 + 4.625, 8.125),
    # mean(fake) - mean(real) = -1.25 - 0.5 ; -mean(fake)
    "wgan": (-1.75, 1.25),
    "wgan-gp": (-1.75, 1.25),  # the same losses; the name asks for the gradient penalty
    # (relu(-1) + relu(2))/2 + (relu(1.5) + relu(-2))/2 ; -mean(fake)
    "hinge": (1.0 + 0.75, 1.25),
    # mean(real) + mean(relu(10 - fake)) = 0.5 + (9.5 + 13) / 2 ; mean(fake) (energies; the
    # negative values here only exercise the arithmetic)
    "ebgan": (0.5 + 11.25, -1.25),
}


def test_every_objective_has_expected_values():
    assert set(EXPECTED) == set(OBJECTIVES)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_matches_hand_computed_values(name):
    objective = get_objective(name)
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    d_expected, g_expected = EXPECTED[name]
    assert objective.d_loss(real, fake).item() == pytest.approx(d_expected, rel=1e-12)
    assert objective.g_loss(fake).item() == pytest.approx(g_expected, rel=1e-12)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_averages_over_any_logit_shape(name):
    objective = get_objective(name)
    real, fake = torch.randn(2, 1, 3, 3), torch.randn(2, 1, 3, 3)
    flat = objective.d_loss(real.flatten(), fake.flatten())
    torch.testing.assert_close(objective.d_loss(real, fake), flat)
    torch.testing.assert_close(objective.g_loss(fake), objective.g_loss(fake.flatten()))


def test_unknown_objective_lists_valid_names():
    with pytest.raises(ValueError, match="hinge") as info:
        get_objective("wasserstein")
    assert "wasserstein" in str(info.value)
    with pytest.raises(ValueError, match="unknown GAN objective"):
        Adversary(nn.Linear(2, 1), objective="wasserstein")


def _g_grad(name: str, logit: float) -> float:
    fake = torch.tensor([logit], requires_grad=True)
    OBJECTIVES[name].g_loss(fake).backward()
    return fake.grad.item()


def test_minimax_saturates_where_nonsaturating_does_not():
    # D(G(z)) = sigmoid(-10) ~ 4.5e-5: the discriminator confidently rejects the fake.
    assert abs(_g_grad("minimax", -10.0)) < 1e-4
    assert abs(_g_grad("nonsaturating", -10.0)) == pytest.approx(1.0, abs=1e-4)
    # Both push the fake logit up (lower G loss where D believes the fake more).
    assert _g_grad("minimax", -10.0) < 0 and _g_grad("nonsaturating", -10.0) < 0


# --- 1-D theory (Goodfellow et al. 2014, Proposition 1 and Theorem 1) -----------------------


class _QuadraticLogit(nn.Module):
    """logit(x) = a x^2 + b x + c: contains log(p_data / p_g) for any two 1-D Gaussians."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w[0] * x * x + self.w[1] * x + self.w[2]


def _train_discriminator(name: str, mu_g: float, steps: int = 300) -> nn.Module:
    """Fit D on fresh samples of p_data = N(0, 1) and p_g = N(mu_g, 1)."""
    gen = torch.Generator().manual_seed(0)
    d = _QuadraticLogit()
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # anneal away SGD noise
    for _ in range(steps):
        real = torch.randn(1024, generator=gen)
        fake = torch.randn(1024, generator=gen) + mu_g
        loss = OBJECTIVES[name].d_loss(d(real), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return d


def _value(d: nn.Module, mu_g: float) -> float:
    """V(D, G) = E log D(x) + E log(1 - D(G(z))), Monte Carlo on 200k fresh samples."""
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(200_000, generator=gen)
    fake = torch.randn(200_000, generator=gen) + mu_g
    with torch.no_grad():
        return -OBJECTIVES["minimax"].d_loss(d(real), d(fake)).item()


def _gauss(x: float, mu: float) -> float:
    return math.exp(-((x - mu) ** 2) / 2) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_trained_discriminator_approaches_optimal_ratio(name):
    d = _train_discriminator(name, mu_g=1.5)
    xs = [-2.0 + 0.05 * i for i in range(101)]  # the bulk, [-2, 3]
    optimal = torch.tensor([_gauss(x, 0.0) / (_gauss(x, 0.0) + _gauss(x, 1.5)) for x in xs])
    with torch.no_grad():
        trained = torch.sigmoid(d(torch.tensor(xs)))
    assert (trained - optimal).abs().max().item() < 0.05


def test_value_at_optimum_is_minus_log4_plus_twice_jsd():
    # Theorem 1: C(G) = V(D*, G) = -log 4 + 2 JSD(p_data || p_g); JSD by quadrature.
    xs = [-12.0 + 0.01 * i for i in range(2601)]
    jsd = 0.0
    for x in xs:
        p, q = _gauss(x, 0.0), _gauss(x, 1.5)
        m = (p + q) / 2
        jsd += 0.01 * 0.5 * (p * math.log(p / m) + q * math.log(q / m))
    d = _train_discriminator("minimax", mu_g=1.5)
    assert _value(d, 1.5) == pytest.approx(-math.log(4) + 2 * jsd, abs=0.02)
    assert _value(d, 1.5) > -math.log(4) + 0.1  # distinguishable: strictly above the minimum


def test_value_is_minus_log4_when_generator_matches_data():
    # Analytic: p_g = p_data gives D* = 1/2, i.e. logit 0, and V = 2 log(1/2) = -log 4.
    half = torch.zeros(7)
    assert -OBJECTIVES["minimax"].d_loss(half, half).item() == pytest.approx(-math.log(4))
    d = _train_discriminator("minimax", mu_g=0.0)
    assert _value(d, 0.0) == pytest.approx(-math.log(4), abs=0.05)


# --- penalties ------------------------------------------------------------------------------


class _LinearCritic(nn.Module):
    """D(x) = <w, x.flatten()>: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor, patches: int = 1) -> None:
        super().__init__()
        self.w = nn.Parameter(w)
        self.patches = patches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.flatten(1) @ self.w
        return out[:, None, None].expand(-1, 1, self.patches)  # (N, 1, patches), PatchGAN-like


def _unit(n: int, norm: float) -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.randn(n)
    return norm * w / w.norm()


def test_gradient_penalty_vanishes_for_unit_gradient_critic():
    torch.manual_seed(1)
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    assert gradient_penalty(_LinearCritic(_unit(18, 1.0)), real, fake).item() < 1e-6


def test_gradient_penalty_positive_for_steep_critic_and_trains_it():
    torch.manual_seed(1)
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    critic = _LinearCritic(_unit(18, 2.0), patches=4)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((2.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()  # create_graph=True: the penalty reaches the critic's weights
    assert critic.w.grad is not None and critic.w.grad.norm() > 0
    assert gradient_penalty(critic, real, fake, center=0.0).item() == pytest.approx(4.0, rel=1e-5)


def test_r1_is_zero_for_constant_critic():
    critic = nn.Linear(6, 1)
    nn.init.zeros_(critic.weight)
    nn.init.constant_(critic.bias, 3.0)
    x = torch.randn(4, 6, requires_grad=True)
    assert r1_penalty(critic(x), x).item() == 0.0


@pytest.mark.parametrize("patches", [1, 4])
def test_r1_matches_hand_computed_value_for_linear_critic(patches):
    critic = _LinearCritic(torch.tensor([1.0, 2.0, 2.0]), patches=patches)
    x = torch.randn(4, 3, requires_grad=True)
    # 0.5 * ||w||^2 = 0.5 * (1 + 4 + 4); patch copies do not change the per-sample critic
    assert r1_penalty(critic(x), x).item() == pytest.approx(4.5)


def test_clip_weights_bounds_every_parameter():
    torch.manual_seed(0)
    net = _tiny_discriminator()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10)
    clip_weights_(net, 0.01)
    values = torch.cat([p.flatten() for p in net.parameters()])
    assert values.abs().max().item() == pytest.approx(0.01)


# --- Adversary ------------------------------------------------------------------------------


def _tiny_discriminator() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, padding=1)
    )


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Separable toy images: real around +0.5, fake around -0.5."""
    gen = torch.Generator().manual_seed(0)
    real = 0.5 + 0.1 * torch.randn(4, 3, 8, 8, generator=gen)
    fake = -0.5 + 0.1 * torch.randn(4, 3, 8, 8, generator=gen)
    return real, fake


def _adversary(objective: str = "nonsaturating", **kwargs) -> Adversary:
    torch.manual_seed(0)
    return Adversary(_tiny_discriminator(), objective=objective, **kwargs)


def _loose_constraint(name: str) -> dict[str, float]:
    """A critic must be constrained; clipping at 1 leaves these small weights as they are."""
    return {"clip": 1.0} if OBJECTIVES[name].needs_lipschitz else {}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_update_decreases_d_loss(name):
    adversary = _adversary(name, **_loose_constraint(name))
    real, fake = _batch()
    first = adversary.update(real, fake)
    for _ in range(9):
        last = adversary.update(real, fake)
    assert last["d_loss"] < first["d_loss"]
    if OBJECTIVES[name].energy:  # energies: low on real data
        assert last["d_real"] < last["d_fake"]
    else:
        assert last["d_real"] > last["d_fake"]
    assert set(last) == {"d_loss", "d_real", "d_fake"}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_loss_reaches_fake_but_not_discriminator(name):
    adversary = _adversary(name, **_loose_constraint(name))
    real, fake = _batch()
    fake.requires_grad_(True)
    adversary.loss(fake, real=real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in adversary.discriminator.parameters())
    assert all(p.requires_grad for p in adversary.discriminator.parameters())


def test_loss_restores_frozen_parameters_as_they_were():
    adversary = _adversary()
    first_weight = adversary.discriminator[0].weight
    first_weight.requires_grad_(False)
    adversary.loss(_batch()[1].requires_grad_(True))
    assert not first_weight.requires_grad
    assert adversary.discriminator[2].weight.requires_grad


def test_d_loss_detaches_fake():
    adversary = _adversary()
    real, fake = _batch()
    fake.requires_grad_(True)
    loss, _ = adversary.d_loss(real, fake * 1.0)
    loss.backward()
    assert fake.grad is None


def test_d_loss_weight_scales_the_objective_only():
    real, fake = _batch()
    full, _ = _adversary("lsgan").d_loss(real, fake)
    half, _ = _adversary("lsgan", d_loss_weight=0.5).d_loss(real, fake)
    assert half.item() == pytest.approx(0.5 * full.item(), rel=1e-6)
    torch.manual_seed(2)  # gradient_penalty draws its interpolation weights
    with_gp, logs = _adversary("lsgan", d_loss_weight=0.5, gp_weight=10.0).d_loss(real, fake)
    assert with_gp.item() == pytest.approx(half.item() + 10.0 * logs["gp"], rel=1e-5)


@pytest.mark.parametrize(("weight", "key"), [("gp_weight", "gp"), ("r1_weight", "r1")])
def test_penalties_are_logged_and_added(weight, key):
    adversary = _adversary("hinge", **{weight: 10.0})
    plain = Adversary(adversary.discriminator, objective="hinge")  # same D, no penalty
    real, fake = _batch()
    objective_only, _ = plain.d_loss(real, fake)
    loss, logs = adversary.d_loss(real, fake)
    assert logs[key] > 0
    assert loss.item() == pytest.approx(objective_only.item() + 10.0 * logs[key], rel=1e-5)
    assert logs["d_loss"] == pytest.approx(loss.item())


def test_update_clips_weights():
    adversary = _adversary("wgan", clip=0.01)
    adversary.update(*_batch())
    assert all(p.abs().max() <= 0.01 for p in adversary.discriminator.parameters())


def test_generator_turn_every_d_steps_updates():
    adversary = _adversary(d_steps=3)
    real, fake = _batch()
    assert not adversary.generator_turn()  # nothing has been learnt yet
    pattern = []
    for _ in range(6):
        adversary.update(real, fake)
        pattern.append(adversary.generator_turn())
    assert pattern == [False, False, True, False, False, True]


def test_invalid_settings_raise():
    with pytest.raises(ValueError, match="d_steps"):
        _adversary(d_steps=0)
    with pytest.raises(ValueError, match="clip"):
        _adversary(clip=0.0)


def _adam_adversary(seed: int) -> Adversary:
    torch.manual_seed(seed)
    d = _tiny_discriminator()
    return Adversary(d, stepper=Stepper(make_optimizer(d.parameters(), lr=1e-3)), d_steps=3)


def test_state_dict_round_trip_resumes_exactly():
    real, fake = _batch()
    source = _adam_adversary(seed=0)
    for _ in range(4):
        source.update(real, fake)
    resumed = _adam_adversary(seed=5)  # different initial weights, fresh optimizer
    resumed.load_state_dict(source.state_dict())

    assert resumed.updates == 4
    for a, b in zip(source.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    turns = []
    for adversary in (source, resumed):
        adversary.update(real, fake)
        adversary.update(real, fake)
        turns.append(adversary.generator_turn())
    assert turns == [True, True]
    # Identical Adam moments give identical weights after the same steps.
    for a, b in zip(source.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_objectives_know_their_own_facts():
    """Tasks and watches ask the objective, not a list of names."""
    for name, objective in OBJECTIVES.items():
        assert objective.energy is (name == "ebgan")
        if objective.energy:  # G's gradient never vanishes: D's loss near 0 is no warning
            assert not (objective.bounded_below or objective.probabilities)
            continue
        critic = name in ("wgan", "wgan-gp")
        assert objective.bounded_below is not critic and objective.needs_lipschitz is critic
        assert objective.probabilities is (name in ("minimax", "nonsaturating", "vanilla"))
    # A discriminator that separates perfectly drives a bounded-below loss under saturation.
    perfect = OBJECTIVES["hinge"].d_loss(torch.full((4,), 5.0), torch.full((4,), -5.0))
    assert perfect.item() < OBJECTIVES["hinge"].saturation


def test_scores_leave_the_discriminator_as_it_was():
    d = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    adversary = Adversary(d, "hinge")
    stats = d[1].running_mean.clone()
    scores = adversary.scores(torch.randn(8, 2))
    assert scores.shape == (8, 1) and not scores.requires_grad
    assert d.training and torch.equal(d[1].running_mean, stats) and adversary.updates == 0


@pytest.mark.parametrize("name", ["wgan", "wgan-gp"])
def test_a_wasserstein_critic_without_a_constraint_is_refused(name):
    with pytest.raises(ValueError, match=r"needs a Lipschitz critic.*--gp-weight.*--clip"):
        _adversary(name)
    for constraint in ({"clip": 0.01}, {"gp_weight": 10.0}, {"r1_weight": 1.0}):
        assert _adversary(name, **constraint).objective.needs_lipschitz
    spectral = apply_spectral_norm(_tiny_discriminator())
    Adversary(spectral, objective=name)  # spectral normalisation is a constraint too
    assert not any(OBJECTIVES[other].needs_lipschitz for other in ("lsgan", "hinge", "vanilla"))


class ConditionWeighted(nn.Module):
    """D(x, c) = w * sum(c * x) per sample, w = 1: its input gradient is the condition c."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.w * (condition * x).flatten(1).sum(1)


def test_separate_r1_step_weighs_the_penalty_on_the_conditioned_judgement() -> None:
    d = ConditionWeighted()
    frozen = Stepper(make_optimizer(d.parameters(), kind="sgd", lr=0.0))  # w stays 1
    adversary = Adversary(d, stepper=frozen, r1_weight=3.0, r1_interval=4, r1_separate=True)
    condition = torch.tensor([[1.0, 2.0], [0.0, 2.0]]).reshape(2, 1, 1, 2)
    weighted, r1 = adversary.r1_loss(torch.randn(2, 1, 1, 2), condition)
    assert r1 == pytest.approx(0.5 * (5.0 + 4.0) / 2)  # 0.5 E|grad_x D|^2, grad_x D = c
    assert weighted.item() == pytest.approx(3.0 * r1)
    # update() takes the same separate step, on the same conditioned judgement.
    logs = adversary.update(torch.randn(2, 1, 1, 2), torch.randn(2, 1, 1, 2), condition)
    assert logs["r1"] == pytest.approx(r1)


def test_by_default_the_generator_steps_after_every_d_step_and_r1_is_never_lazy() -> None:
    """The papers' plain setting (k = 1, Goodfellow et al.; R1 on every step, Mescheder et
    al.): lazy R1 and extra critic steps are what a caller asks for."""
    adversary = Adversary(_tiny_discriminator(), r1_weight=1.0)
    real, fake = _batch()
    r1_logged, turns = [], []
    for _ in range(2):
        r1_logged.append("r1" in adversary.update(real, fake))
        turns.append(adversary.generator_turn())
    assert r1_logged == [True, True] and turns == [True, True]


def test_the_generators_turn_gives_the_objective_the_conditioned_real_logits() -> None:
    """For objectives that compare real and fake in G's term (relativistic GANs), which a
    user may pass as an Objective of their own."""
    relativistic = Objective(
        "relativistic mean difference",
        d_loss=lambda real, fake: fake.mean() - real.mean(),
        g_loss=lambda fake, real=None: real.mean() - fake.mean(),
    )
    adversary = Adversary(ConditionWeighted(), objective=relativistic)
    condition = torch.tensor([[1.0, 2.0], [0.0, 2.0]]).reshape(2, 1, 1, 2)
    real, fake = torch.ones(2, 1, 1, 2), torch.zeros(2, 1, 1, 2)
    # D(real) = sum(c) per sample = (3, 2); D(fake) = 0: the term is 2.5 - 0.
    assert adversary.loss(fake, real=real, condition=condition).item() == pytest.approx(2.5)


def test_energy_objectives_are_offered_only_by_tasks_that_ask_for_them() -> None:
    energy = {name for name, objective in OBJECTIVES.items() if objective.energy}
    assert energy and not energy & set(objective_choices())
    assert set(objective_choices(energy=True)) == set(OBJECTIVES)
