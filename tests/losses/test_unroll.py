"""Unrolled GANs (``Adversary(unroll=K)``): the generator's loss against D after K
differentiable updates, the real D untouched, K = 0 the plain Adversary."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from img2img.losses import Adversary
from img2img.nets.mlp import MLPDiscriminator
from img2img.optim import Stepper, UnrolledOptimizer, make_optimizer


class Linear(nn.Module):
    """D(x) = w . x + b, one logit per row."""

    def __init__(self, w: list[float], b: float) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1).double()
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor([w]))
            self.layer.bias.fill_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x).flatten()


def sgd_adversary(unroll: int, lr: float = 0.1) -> Adversary:
    d = Linear([0.5, -1.0], 0.25)
    return Adversary(d, "lsgan", Stepper(torch.optim.SGD(d.parameters(), lr=lr)), unroll=unroll)


def test_one_unrolled_sgd_step_gives_the_hand_computed_generator_gradient() -> None:
    """LSGAN, one real point r and one fake f, D(x) = w.x + b, SGD at rate eta:
    d_loss = (w.r + b - 1)^2 + (w.f + b)^2, so one step gives
    w1 = w - eta [2 (w.r + b - 1) r + 2 s f], b1 = b - eta [2 (w.r + b - 1) + 2 s], s = w.f + b,
    and the generator's loss (w1.f + b1 - 1)^2 has the gradient with respect to f
    2 (w1.f + b1 - 1) (w1 - 2 eta (|f|^2 w + s f) - 2 eta w)
    (dw1/df = -2 eta (f w^T + s I), db1/df = -2 eta w)."""
    eta = 0.1
    adversary = sgd_adversary(unroll=1, lr=eta)
    real = torch.tensor([[1.0, 2.0]], dtype=torch.double)
    fake = torch.tensor([[-0.5, 0.3]], dtype=torch.double, requires_grad=True)
    adversary.update(real, fake)  # D's own step; the unroll starts from its result
    layer = adversary.discriminator.layer
    (w1_, w2_), b = layer.weight[0].tolist(), layer.bias.item()
    (r1, r2), (f1, f2) = real[0].tolist(), fake[0].tolist()

    s = w1_ * f1 + w2_ * f2 + b
    e = w1_ * r1 + w2_ * r2 + b - 1
    u1, u2 = w1_ - eta * (2 * e * r1 + 2 * s * f1), w2_ - eta * (2 * e * r2 + 2 * s * f2)
    c = b - eta * (2 * e + 2 * s)
    outer = 2 * (u1 * f1 + u2 * f2 + c - 1)
    norm2 = f1 * f1 + f2 * f2
    expected = [
        outer * (u1 - 2 * eta * (norm2 * w1_ + s * f1) - 2 * eta * w1_),
        outer * (u2 - 2 * eta * (norm2 * w2_ + s * f2) - 2 * eta * w2_),
    ]
    loss = adversary.loss(fake)
    assert loss.item() == pytest.approx((u1 * f1 + u2 * f2 + c - 1) ** 2, rel=1e-12)
    (grad,) = torch.autograd.grad(loss, fake)
    assert grad[0].tolist() == pytest.approx(expected, rel=1e-12)
    # Without unrolling, the gradient is 2 (w.f + b - 1) w: the unroll changed it.
    plain = 2 * (s - 1) * torch.tensor([w1_, w2_], dtype=torch.double)
    assert (grad[0] - plain).abs().max() > 1e-3


def test_k0_is_the_plain_adversary_bit_for_bit() -> None:
    """With unroll=0 the generator's loss is the objective on D with frozen weights, and
    D's update is one plain optimizer step on its loss: the same numbers, to the bit."""
    torch.manual_seed(0)
    d = MLPDiscriminator(hidden=16, layers=2)
    twin = copy.deepcopy(d)
    adversary = Adversary(d, "nonsaturating", Stepper(make_optimizer(d.parameters())), unroll=0)
    optimizer = make_optimizer(twin.parameters())
    real, z = torch.randn(16, 2), torch.randn(16, 2)
    for _ in range(3):
        adversary.update(real, z)
        optimizer.zero_grad()
        loss = nn.functional.softplus(-twin(real)).mean() + nn.functional.softplus(twin(z)).mean()
        loss.backward()
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(d.parameters(), twin.parameters(), strict=True))

    fake = z.clone().requires_grad_(True)
    loss = adversary.loss(fake)
    (grad,) = torch.autograd.grad(loss, fake)
    fake_twin = z.clone().requires_grad_(True)
    expected = nn.functional.softplus(-twin(fake_twin)).mean()
    (grad_twin,) = torch.autograd.grad(expected, fake_twin)
    assert torch.equal(loss, expected) and torch.equal(grad, grad_twin)
    assert adversary._unroll_batch is None  # nothing is remembered without unrolling


@pytest.mark.parametrize("kind", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_unrolled_weights_are_the_optimizers_next_steps(kind: str, spectral_norm: bool) -> None:
    """After three real updates (Adam's moments and step count under way), K unrolled steps
    give the weights that K more real updates on the same batch give (spectral norm's power
    iteration included), exactly."""
    torch.manual_seed(1)
    d = MLPDiscriminator(hidden=16, layers=2, spectral_norm=spectral_norm).double()
    stepper = Stepper(make_optimizer(d.parameters(), kind, lr=1e-2, betas=(0.5, 0.999)))
    adversary = Adversary(d, "nonsaturating", stepper, unroll=3, gp_weight=0.0)
    real, fake = torch.randn(32, 2).double(), torch.randn(32, 2).double()
    for _ in range(3):
        adversary.update(real, fake)
    twin = copy.deepcopy(adversary)
    for _ in range(3):
        twin.stepper.step(twin.d_loss(real, fake)[0])
    unrolled = adversary.unrolled_discriminator(fake)
    probe = torch.randn(8, 2).double()
    d.eval(), twin.discriminator.eval()
    with torch.no_grad():
        assert torch.equal(unrolled(probe), twin.discriminator(probe))


def test_the_unroll_leaves_the_discriminator_and_its_optimizer_untouched() -> None:
    torch.manual_seed(2)
    d = MLPDiscriminator(hidden=16, layers=2, spectral_norm=True)
    adversary = Adversary(d, "hinge", Stepper(make_optimizer(d.parameters())), unroll=3)
    real, z = torch.randn(16, 2), torch.randn(16, 2)
    adversary.update(real, z)
    weights = {k: v.clone() for k, v in d.state_dict().items()}  # spectral norm's u, v too
    grads = [p.grad.clone() for p in d.parameters()]
    optimizer_state = copy.deepcopy(adversary.stepper.optimizer.state_dict())
    fake = z.clone().requires_grad_(True)
    adversary.loss(fake).backward()
    assert fake.grad.abs().sum() > 0
    assert all(torch.equal(weights[k], v) for k, v in d.state_dict().items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, d.parameters(), strict=True))
    state = adversary.stepper.optimizer.state_dict()["state"]
    for index, saved in optimizer_state["state"].items():
        assert all(torch.equal(saved[key], state[index][key]) for key in saved)
    assert adversary.updates == 1


def test_the_unrolled_gradient_is_the_derivative_of_the_unrolled_loss() -> None:
    """Finite differences through two Adam steps with a gradient penalty (third-order terms)
    agree with the gradient the generator receives."""
    torch.manual_seed(3)
    d = MLPDiscriminator(hidden=8, layers=2).double()
    stepper = Stepper(make_optimizer(d.parameters(), "adam", lr=1e-2))
    adversary = Adversary(d, "wgan-gp", stepper, gp_weight=0.1, unroll=2)
    real = torch.randn(6, 2).double()
    fake = torch.randn(6, 2).double().requires_grad_(True)
    adversary.update(real, fake)

    def unrolled_loss(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(4)  # the penalty's interpolation weights, the same in every call
        return adversary.loss(x)

    assert torch.autograd.gradcheck(unrolled_loss, (fake,), eps=1e-6, atol=1e-6)


def test_unrolling_refuses_what_it_cannot_follow() -> None:
    d = MLPDiscriminator(hidden=8, layers=1)
    with pytest.raises(ValueError, match="unroll must be >= 0"):
        Adversary(d, unroll=-1)
    amsgrad = Stepper(torch.optim.Adam(d.parameters(), amsgrad=True))
    with pytest.raises(ValueError, match="amsgrad=True"):
        Adversary(d, stepper=amsgrad, unroll=1)
    with pytest.raises(ValueError, match="Adagrad"):
        Adversary(d, stepper=Stepper(torch.optim.Adagrad(d.parameters())), unroll=1)
    with pytest.raises(ValueError, match="call update"):
        Adversary(d, unroll=1).loss(torch.randn(4, 2))


def test_a_parameter_without_a_gradient_keeps_its_value_and_state() -> None:
    param = torch.ones(2, requires_grad=True)
    optimizer = UnrolledOptimizer(torch.optim.Adam([param]))
    (same,) = optimizer.step([param], [None])
    assert same is param and optimizer.state[0]["step"] == 0


class ConditionedMLP(nn.Module):
    """D(x, c) = mlp(x) + c . v, and a parameter no loss reaches (it gets no gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = MLPDiscriminator(hidden=8, layers=1)
        self.v = nn.Parameter(torch.randn(3))
        self.spare = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).flatten() + condition @ self.v


def test_the_unroll_follows_clipping_lazy_r1_and_the_condition_as_real_updates_do() -> None:
    """K unrolled steps give the weights K more real updates give, when those clip D's
    weights, add R1 on every third update only, judge a condition, and leave a parameter
    without a gradient."""
    torch.manual_seed(3)
    d = ConditionedMLP().double()
    stepper = Stepper(make_optimizer(d.parameters(), "rmsprop", lr=1e-2))
    adversary = Adversary(d, "wgan", stepper, clip=0.3, r1_weight=0.5, r1_interval=3,
                          unroll=3)  # fmt: skip
    real, fake = torch.randn(16, 2).double(), torch.randn(16, 2).double()
    condition = torch.randn(16, 3).double()
    adversary.update(real, fake, condition)
    twin = copy.deepcopy(adversary)
    for _ in range(3):
        twin.update(real, fake, condition)
    unrolled = adversary.unrolled_discriminator(fake)
    probe, probe_condition = torch.randn(8, 2).double(), torch.randn(8, 3).double()
    with torch.no_grad():
        expected = twin.discriminator(probe, probe_condition)
        assert torch.equal(unrolled(probe, probe_condition), expected)
        # The clip acted: without it the weights leave [-0.3, 0.3].
        assert max(float(p.abs().max()) for p in twin.discriminator.parameters()) == 0.3


@pytest.mark.parametrize("kind", ["adam", "sgd", "rmsprop"])
def test_an_unrolled_step_is_the_optimizers_step_with_weight_decay(kind: str) -> None:
    """A parameter without a gradient first (it stays), then two with one: the unrolled
    step equals ``optimizer.step()``'s, L2 weight decay included."""
    torch.manual_seed(4)
    params = [torch.randn(3, dtype=torch.double, requires_grad=True) for _ in range(3)]
    grads = [None, torch.randn(3, dtype=torch.double), torch.randn(3, dtype=torch.double)]
    optimizer = make_optimizer(params, kind, lr=0.1, weight_decay=0.5)
    unrolled = UnrolledOptimizer(optimizer).step([p.detach() for p in params], grads)
    for param, grad in zip(params, grads, strict=True):
        param.grad = grad
    optimizer.step()
    for mine, real in zip(unrolled, params, strict=True):
        torch.testing.assert_close(mine, real.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("optimizer", "setting"),
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "momentum=0.9"),
        (lambda p: torch.optim.Adam(p, maximize=True), "maximize=True"),
        (lambda p: torch.optim.RMSprop(p, centered=True), "centered=True"),
        (lambda p: torch.optim.Adam(p, decoupled_weight_decay=True), "decoupled_weight_decay=True"),
    ],
)
def test_unrolling_names_an_optimizer_setting_it_cannot_follow(optimizer, setting: str) -> None:
    d = MLPDiscriminator(hidden=8, layers=1)
    with pytest.raises(ValueError, match=f"does not follow .* with {setting}"):
        Adversary(d, stepper=Stepper(optimizer(d.parameters())), unroll=1)
