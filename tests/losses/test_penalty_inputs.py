"""What the gradient penalties differentiate: the image alone (not a condition), and under
fp16 a gradient that neither underflows nor, when the loss scale overflows, stops the run."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from img2img.losses.adversarial import Adversary, gradient_penalty, r1_penalty
from img2img.nets.dcgan import DCGANDiscriminator, with_label_maps
from img2img.nets.outputs import DiscriminatorOutput
from img2img.optim import Stepper, make_optimizer


def _interpolates(real: torch.Tensor, fake: torch.Tensor, seed: int) -> torch.Tensor:
    """The x_hat gradient_penalty draws after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    alpha = torch.rand(len(real), 1, 1, 1)
    return (alpha * real + (1 - alpha) * fake).requires_grad_(True)


def test_gradient_penalty_of_a_concat_conditioned_critic_constrains_the_image_gradient():
    torch.manual_seed(0)
    critic = DCGANDiscriminator(
        image_size=28, channels=1, ndf=8, norm="none", num_classes=10, conditioning="concat"
    )
    real, fake = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 1, 28, 28) * 2 - 1
    labels = torch.tensor([0, 3, 5, 9])
    torch.manual_seed(1)
    _, logs = Adversary(critic, "wgan", gp_weight=10.0).d_loss(real, fake, condition=labels)

    x_hat = _interpolates(real, fake, seed=1)
    (image_grad,) = torch.autograd.grad(critic(x_hat, labels).sum(), x_hat)
    expected = ((image_grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert logs["gp"] == pytest.approx(expected.item(), rel=1e-5)

    # The label channels carry a large gradient of their own (the fault this guards
    # against penalised it too): the two penalties differ by far more than the tolerance.
    maps = with_label_maps(x_hat.detach(), labels, 10).requires_grad_(True)
    (full_grad,) = torch.autograd.grad(critic.head(critic.features(maps)).sum(), maps)
    label_norm = full_grad[:, 1:].flatten(1).norm(dim=1)
    assert (label_norm > image_grad.flatten(1).norm(dim=1)).all()


@pytest.mark.parametrize("augment", [None, torch.neg], ids=["plain", "augmented"])
def test_condition_reaches_the_discriminator_in_every_call(augment):
    seen = []

    class Recorder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
            seen.append(condition)
            return (x.flatten(1) * self.w).sum(1) * condition

    labels = torch.tensor([1.0, 2.0])
    adversary = Adversary(Recorder(), "wgan", gp_weight=1.0, r1_weight=1.0, augment=augment)
    adversary.update(torch.ones(2, 3), torch.zeros(2, 3), condition=labels)
    adversary.loss(torch.zeros(2, 3), condition=labels)
    assert len(seen) == 4 and all(c is labels for c in seen)  # real, fake, x_hat, G's turn


def test_feature_matching_judges_both_inputs_with_their_condition():
    class ConditionedFeatures(nn.Module):
        """Features c * x (c: one number per sample); logits their sum."""

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor, condition: torch.Tensor) -> DiscriminatorOutput:
            features = self.w * condition.view(-1, 1) * x
            return DiscriminatorOutput(features.sum(1), features=[[features]])

    adversary = Adversary(ConditionedFeatures(), "hinge")
    labels = torch.tensor([1.0, 2.0])
    term = adversary.feature_matching(torch.zeros(2, 3), torch.ones(2, 3), condition=labels)
    assert term.item() == pytest.approx(4 * 1.5)  # 4 / (one layer) * mean |0 - c * 1|


def _tiny_critic(scale: float) -> nn.Module:
    torch.manual_seed(0)
    critic = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, padding=1)
    )
    with torch.no_grad():
        critic[2].weight.mul_(scale)
    return critic


def test_fp16_penalty_gradient_is_scaled_so_small_gradients_do_not_underflow():
    critic = _tiny_critic(1e-5)  # input gradients ~1e-8: below fp16's smallest subnormal
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    torch.manual_seed(1)
    reference = gradient_penalty(critic, real, fake, center=0).item()
    reference_r1 = r1_penalty(critic(real.requires_grad_(True)), real).item()
    with torch.autocast("cpu", dtype=torch.float16):
        torch.manual_seed(1)
        unscaled = gradient_penalty(critic, real, fake, center=0).item()
        unscaled_r1 = r1_penalty(critic(real), real).item()
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**15)
        torch.manual_seed(1)
        scaled = gradient_penalty(critic, real, fake, center=0, grad_scaler=scaler)
        scaled_r1 = r1_penalty(critic(real), real, grad_scaler=scaler)
    # The zero-centred penalty is |grad|^2 + 1e-12 (the sqrt's epsilon): here |grad|^2 is
    # 2.2e-14, so a 1% tolerance tells a scaled gradient (0.1% off) from none (2% off).
    assert scaled.item() == pytest.approx(reference, rel=1e-2, abs=0)
    # Every input gradient underflowed: only the epsilon is left (float32-rounded).
    assert unscaled == pytest.approx(1e-12, rel=1e-6, abs=0)
    # R1 has no epsilon: unscaled it is exactly 0; scaled it is within the few per cent that
    # the half-precision forward through these tiny weights changes the function.
    assert scaled_r1.item() == pytest.approx(reference_r1, rel=0.1, abs=0)
    assert unscaled_r1 == 0.0
    # The scaled gradient keeps its graph, so the penalties can train the critic.
    assert scaled.requires_grad and scaled_r1.requires_grad


@pytest.mark.parametrize(
    ("objective", "penalty", "separate"),
    [
        ("wgan", {"gp_weight": 10.0}, False),
        ("hinge", {"r1_weight": 10.0}, False),
        ("hinge", {"r1_weight": 10.0}, True),
    ],
)
def test_fp16_penalty_overflow_lowers_the_scale_and_skips_the_step(objective, penalty, separate):
    critic = _tiny_critic(1.0)
    stepper = Stepper(make_optimizer(critic.parameters(), kind="sgd", lr=0.1))
    stepper.use_grad_scaler("cpu")
    if separate:  # D's own step overflows first and halves the scale; then R1's step does
        stepper.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**17)
    adversary = Adversary(critic, objective, stepper=stepper, r1_separate=separate, **penalty)
    (key,) = (name.removesuffix("_weight") for name in penalty)
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    before = [p.detach().clone() for p in critic.parameters()]
    with torch.autocast("cpu", dtype=torch.float16):
        # GradScaler starts at 2**16, above fp16's largest value (65504): the scaled
        # d(sum of outputs)/d(output) overflows at once, in the penalty's inner gradient
        # (the Adversary hands the penalty its scaler) as in the step's backward.
        logs = adversary.update(real, fake)
        assert not math.isfinite(logs[key])
        assert stepper.scaler.get_scale() == 2.0**15
        assert all(torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True))
        logs = adversary.update(real, fake)
    assert torch.isfinite(torch.tensor(logs[key]))
    assert not all(torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True))
    assert adversary.updates == 2  # the skipped step still counts for the k-step rhythm
